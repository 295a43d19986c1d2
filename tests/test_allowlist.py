"""FHIR_SERVER_ALLOWLIST: the token only goes to configured servers; anything else is a 403, unsent."""

from __future__ import annotations

import pytest
import responses
from helpers import patient_view_request, with_fhir_server

from cds_service import create_app
from cds_service.data.allowlist import ForbiddenServer, ServerPolicy
from cds_service.errors import ConfigError

EHR = "https://ehr.example.org/fhir"


@pytest.mark.parametrize("server", [EHR, EHR + "/", "https://EHR.example.org:443/fhir", EHR + "/tenant-a"])
def test_servers_at_or_below_a_prefix_are_allowed(server):
    ServerPolicy.from_settings([EHR], development=False).check(server)


@pytest.mark.parametrize("server", [
    "https://ehr.example.org/fhir-evil",        # path boundary
    "https://ehr.example.org.evil.com/fhir",    # host suffix trick
    "https://ehr.example.org:8443/fhir",        # another port
    "http://ehr.example.org/fhir",              # plain http
    "https://other.example.org/fhir",
    "ftp://ehr.example.org/fhir",
])
def test_anything_else_is_forbidden(server):
    with pytest.raises(ForbiddenServer) as caught:
        ServerPolicy.from_settings([EHR], development=False).check(server)
    assert caught.value.status == 403
    assert caught.value.expression == ["fhirServer"]


def test_development_with_an_empty_list_allows_loopback_only():
    policy = ServerPolicy.from_settings([], development=True)
    for server in ("http://127.0.0.1:8090/fhir", "http://localhost:8080/fhir", "http://[::1]:8090/fhir"):
        policy.check(server)
    with pytest.raises(ForbiddenServer):
        policy.check("https://ehr.example.org/fhir")


def test_production_with_an_empty_list_calls_nothing():
    with pytest.raises(ForbiddenServer):
        ServerPolicy.from_settings([], development=False).check("http://127.0.0.1:8090/fhir")


@pytest.mark.parametrize(("entry", "development"), [("http://ehr.example.org/fhir", True),
                                                    ("http://127.0.0.1:8090/fhir", False),
                                                    ("not a url", True)])
def test_bad_allowlist_entries_stop_start_up(entry, development):
    with pytest.raises(ConfigError, match=r"FHIR_SERVER_ALLOWLIST\[0\]"):
        ServerPolicy.from_settings([entry], development=development)


@responses.activate
def test_a_hook_call_naming_a_server_off_the_list_is_403_and_nothing_is_sent(app_config):
    client = create_app({**app_config, "FHIR_SERVER_ALLOWLIST": [EHR]}).test_client()
    body = with_fhir_server(patient_view_request(), base="https://attacker.example.com/fhir")
    response = client.post("/cds-services/b12-status", json=body)
    assert response.status_code == 403
    issue = response.get_json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert issue["expression"] == ["fhirServer"]
    assert "attacker.example.com" in issue["diagnostics"]
    assert len(responses.calls) == 0
