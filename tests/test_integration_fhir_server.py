"""Against real FHIR R4 servers (sekmet and HAPI FHIR on loopback): the fixture patients loaded by transaction,
the service called with no prefetch, what it queried and what it answered."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from fhir_server import BEARER, load_transaction, server_kind
from fixture_tools import build_request, chart_resources, fixture_app, iter_fixture_calls
from helpers import FIXTURES, load_json, with_fhir_server

pytestmark = pytest.mark.integration

FIXTURE_CALLS = list(iter_fixture_calls())


@pytest.fixture(scope="module")
def loaded_server(fhir_server: str) -> str:
    """The FHIR server with every fixture patient loaded (each chart is one transaction)."""
    for directory in sorted(p for p in FIXTURES.iterdir() if (p / "chart.json").exists()):
        result = load_transaction(fhir_server, load_json(directory / "chart.json"))
        assert all(e["response"]["status"].startswith(("200", "201")) for e in result["entry"]), directory.name
    return fhir_server


def recorded_calls(app) -> list[tuple[str, str | None, int]]:
    """Record (url, Authorization header, status) of every FHIR call the app makes."""
    seen: list[tuple[str, str | None, int]] = []
    session = app.extensions["b12cds"].fetch_settings.session
    session.hooks["response"].append(
        lambda response, *args, **kwargs: seen.append(
            (unquote(response.request.url), response.request.headers.get("Authorization"), response.status_code)))
    return seen


def without_prefetch(fixture, base: str, token: str = BEARER) -> dict[str, Any]:
    body = build_request(fixture)
    del body["prefetch"]
    return with_fhir_server(body, base=base, token=token)


def test_the_service_queries_the_fhir_server_with_the_token_when_there_is_no_prefetch(loaded_server):
    [fixture] = [f for f in FIXTURE_CALLS if f.test_id == "deficient_with_neuropathy-b12-status"]
    app = fixture_app(fixture.evaluated_at)
    seen = recorded_calls(app)
    response = app.test_client().post("/cds-services/b12-status", json=without_prefetch(fixture, loaded_server))
    assert response.status_code == 200, response.get_data(as_text=True)

    patient = next(r["id"] for r in chart_resources(fixture.directory) if r["resourceType"] == "Patient")
    templates = load_json(FIXTURES.parent / "hooks" / "b12-status.json")["prefetch"].values()
    expected = {f"{loaded_server}/{t.replace('{{context.patientId}}', patient)}" for t in templates}
    assert expected <= {url for url, _, _ in seen}
    assert {auth for _, auth, _ in seen} == {f"Bearer {BEARER}"}
    assert {status for _, _, status in seen} == {200}
    cards = response.get_json()["cards"]
    assert [c["indicator"] for c in cards] == fixture.call["expect"]["indicators"]


def test_a_token_the_fhir_server_refuses_gives_412(loaded_server, request):
    if server_kind(request) == "hapi":
        pytest.skip("our HAPI test server has no security: it accepts any token")
    fixture = FIXTURE_CALLS[0]
    app = fixture_app(fixture.evaluated_at)
    response = app.test_client().post(f"/cds-services/{fixture.service}",
                                      json=without_prefetch(fixture, loaded_server, token="wrong-token"))
    assert response.status_code == 412
    assert "HTTP 401" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=[f.test_id for f in FIXTURE_CALLS])
def test_the_same_patient_on_the_fhir_server_gives_the_same_cards(loaded_server, fixture):
    app = fixture_app(fixture.evaluated_at)
    response = app.test_client().post(f"/cds-services/{fixture.service}",
                                      json=without_prefetch(fixture, loaded_server))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == load_json(fixture.response_path)
