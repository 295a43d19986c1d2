"""FHIR_SERVER_ALLOWLIST: the token only goes to configured servers. It is checked when a request is about
to be sent: a complete prefetch is answered whatever fhirServer says; required data that would need a server
off the list is a 403, optional data is missing with a note; nothing is ever sent there."""

from __future__ import annotations

import json
import re

import pytest
import responses
from fixture_tools import iter_fixture_calls
from helpers import load_json, patient_view_request, searchset, with_fhir_server

from cds_service import create_app
from cds_service.data.allowlist import ForbiddenServer, ServerPolicy
from cds_service.errors import ConfigError

EHR = "https://ehr.example.org/fhir"
COMPOSE_HAPI = "http://hapi:8080/fhir"  # the FHIR server of the docker-compose development stack
SANDBOX_ISSUER = {"https://sandbox.cds-hooks.org": {"jwks_file": "builtin:cds-hooks-sandbox"}}


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


@pytest.mark.parametrize(("entry", "development"), [("http://ehr.example.org/fhir", False),
                                                    ("http://127.0.0.1:8090/fhir", False),
                                                    (COMPOSE_HAPI, False),
                                                    ("not a url", True),
                                                    ("ftp://ehr.example.org/fhir", True)])
def test_bad_allowlist_entries_stop_start_up(entry, development):
    with pytest.raises(ConfigError, match=r"FHIR_SERVER_ALLOWLIST\[0\]"):
        ServerPolicy.from_settings([entry], development=development)


def test_development_allows_plain_http_for_an_explicitly_listed_prefix_only():
    policy = ServerPolicy.from_settings([COMPOSE_HAPI], development=True)
    for server in (COMPOSE_HAPI, COMPOSE_HAPI + "/", COMPOSE_HAPI + "/tenant-a", "http://HAPI:8080/fhir"):
        policy.check(server)
    for server in ("http://hapi:8080/fhir-evil", "http://hapi:8081/fhir", "http://other:8080/fhir",
                   "https://hapi:8080/fhir",  # listed as http: https there is another server
                   "http://127.0.0.1:8090/fhir"):  # a list is given: loopback is no longer implied
        with pytest.raises(ForbiddenServer):
            policy.check(server)


def test_development_mixes_http_and_https_prefixes():
    policy = ServerPolicy.from_settings([COMPOSE_HAPI, EHR], development=True)
    policy.check(COMPOSE_HAPI + "/Patient")
    policy.check(EHR)
    with pytest.raises(ForbiddenServer, match="must use https"):
        policy.check("http://ehr.example.org/fhir")


def test_production_refuses_a_plain_http_entry_at_start_up_with_a_clear_message():
    with pytest.raises(ConfigError, match=r"must use https \(plain http only in development"):
        ServerPolicy.from_settings([EHR, COMPOSE_HAPI], development=False)


def test_an_authenticated_app_with_an_http_allowlist_entry_does_not_start(app_config):
    config = {**app_config, "AUTH_REQUIRED": True, "PUBLIC_BASE_URL": "https://cds.example.org",
              "TRUSTED_ISSUERS": SANDBOX_ISSUER, "FHIR_SERVER_ALLOWLIST": [COMPOSE_HAPI]}
    with pytest.raises(ConfigError, match=r"FHIR_SERVER_ALLOWLIST\[0\].*must use https"):
        create_app(config)


@responses.activate
def test_a_development_app_calls_a_listed_http_server(app_config):
    def answer(request):
        path = request.path_url.split("?")[0]
        body = {"resourceType": "Patient", "id": "pat-1"} if path == "/fhir/Patient/pat-1" else searchset()
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    responses.add_callback(responses.GET, re.compile(re.escape(COMPOSE_HAPI) + r"/.*"), callback=answer)
    client = create_app({**app_config, "FHIR_SERVER_ALLOWLIST": [COMPOSE_HAPI]}).test_client()
    response = client.post("/cds-services/b12-status", json=with_fhir_server(patient_view_request(),
                                                                              base=COMPOSE_HAPI))
    assert response.status_code == 200, response.get_json()
    assert responses.calls and all(call.request.url.startswith(COMPOSE_HAPI + "/") for call in responses.calls)


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


def fixture_call(test_id: str):
    fixture = next(f for f in iter_fixture_calls() if f.test_id == test_id)
    return fixture, load_json(fixture.request_path), load_json(fixture.response_path)


@responses.activate
def test_a_complete_prefetch_gets_its_cards_whatever_fhir_server_it_names_and_nothing_is_sent(app_config):
    """Real EHRs send fhirServer on every call: a prefetch-only deployment must still answer them."""
    responses.add(responses.GET, re.compile(".*"), status=500)  # any request at all would be recorded
    fixture, body, golden = fixture_call("folic_acid_ordered_b12_deficient-folic-acid-safety-select")
    body = with_fhir_server(body, base="https://ehr.elsewhere.example.org/fhir")
    app = create_app({**app_config, "FHIR_SERVER_ALLOWLIST": [EHR], "CLOCK": lambda: fixture.evaluated_at})
    response = app.test_client().post("/cds-services/folic-acid-safety-select", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [card["indicator"] for card in response.get_json()["cards"]] == [
        card["indicator"] for card in golden["cards"]]
    assert response.get_json()["cards"]
    assert len(responses.calls) == 0


@responses.activate
def test_optional_data_that_would_need_a_server_off_the_list_is_missing_with_a_note(app_config):
    responses.add(responses.GET, re.compile(".*"), status=500)
    fixture, body, _ = fixture_call("metformin_five_years_never_tested-b12-status")
    del body["prefetch"]["bloodCount"]  # optional: it would have to be fetched
    body = with_fhir_server(body, base="https://ehr.elsewhere.example.org/fhir")
    app = create_app({**app_config, "FHIR_SERVER_ALLOWLIST": [EHR], "CLOCK": lambda: fixture.evaluated_at})
    response = app.test_client().post("/cds-services/b12-status", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    [card] = response.get_json()["cards"]
    assert "Not available from the EHR: blood count" in card["detail"]
    assert len(responses.calls) == 0


@responses.activate
def test_required_data_that_would_need_a_server_off_the_list_is_403_and_nothing_is_sent(app_config):
    responses.add(responses.GET, re.compile(".*"), status=500)
    fixture, body, _ = fixture_call("metformin_five_years_never_tested-b12-status")
    del body["prefetch"]["b12Labs"]  # required: it would have to be fetched
    body = with_fhir_server(body, base="https://ehr.elsewhere.example.org/fhir")
    app = create_app({**app_config, "FHIR_SERVER_ALLOWLIST": [EHR], "CLOCK": lambda: fixture.evaluated_at})
    response = app.test_client().post("/cds-services/b12-status", json=body)
    assert response.status_code == 403
    issue = response.get_json()["issue"][0]
    assert (issue["code"], issue["expression"]) == ("forbidden", ["fhirServer"])
    assert "nothing was sent" in issue["diagnostics"]
    assert len(responses.calls) == 0
