"""Every clinical scenario in fhir_fixtures/ through the HTTP API: the golden response, and the
scenario's independent expectation (indicators and card kinds written from B12-RULES.md)."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fixture_tools import build_request, chart_resources, fixture_app, iter_fixture_calls, patient_id
from helpers import KIND_TOPICS, ROOT, load_json, openapi_validator

from cds_service.offline import answer, bundle_resources

FIXTURE_CALLS = list(iter_fixture_calls())
IDS = [fixture.test_id for fixture in FIXTURE_CALLS]
VERBATIM = [fixture for fixture in FIXTURE_CALLS if fixture.verbatim]
SANDBOX_ORDERS = [f for f in VERBATIM if f.scenario.startswith("sandbox_") and f.call.get("draftOrders")]

def call_service(fixture) -> dict[str, Any]:
    response = fixture_app(fixture.evaluated_at).test_client().post(
        f"/cds-services/{fixture.service}", json=load_json(fixture.request_path))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_there_are_at_least_thirty_scenarios():
    assert len({fixture.scenario for fixture in FIXTURE_CALLS}) >= 30


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=IDS)
def test_request_file_is_built_from_the_scenario_chart(fixture):
    assert load_json(fixture.request_path) == build_request(fixture)


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=IDS)
def test_response_equals_the_golden_file(fixture):
    assert call_service(fixture) == load_json(fixture.response_path)


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=IDS)
def test_cards_meet_the_scenario_expectation(fixture):
    cards = load_json(fixture.response_path)["cards"]
    expected = fixture.call["expect"]
    assert [card["indicator"] for card in cards] == expected["indicators"]
    assert [card["source"]["topic"]["code"] for card in cards] == [KIND_TOPICS[k] for k in expected["cardKinds"]]


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=IDS)
def test_every_suggested_resource_is_valid_fhir_r4(fixture):
    for card in load_json(fixture.response_path)["cards"]:
        for suggestion in card.get("suggestions", []):
            for action in suggestion["actions"]:
                if "resource" in action:
                    model = get_fhir_model_class(action["resource"]["resourceType"])
                    model.model_validate(action["resource"])  # raises on an invalid resource


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=IDS)
def test_response_is_valid_against_our_openapi_document(fixture):
    assert list(openapi_validator("CDSResponse").iter_errors(load_json(fixture.response_path))) == []


def _as_written(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource as the chart wrote it: without the version and time stamp a FHIR server adds."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    return {k: v for k, v in resource.items() if k != "meta"} | ({"meta": meta} if meta else {})


@pytest.mark.parametrize("fixture", VERBATIM, ids=[f.test_id for f in VERBATIM])
def test_a_captured_request_still_holds_the_scenario_chart_drafts_and_selections(fixture):
    request = load_json(fixture.request_path)
    resources = chart_resources(fixture.directory)
    chart = {(r["resourceType"], r["id"]): r for r in resources}
    patient = patient_id(resources)
    templates = load_json(ROOT / "hooks" / f"{fixture.service}.json")["prefetch"]
    assert request["hook"] == fixture.call["hook"]
    assert request["context"]["patientId"] == patient
    assert request["context"].get("draftOrders") == fixture.call.get("draftOrders")
    assert request["context"].get("selections") == fixture.call.get("selections")
    assert set(request.get("prefetch") or {}) <= set(templates)
    for key, value in (request.get("prefetch") or {}).items():
        sent = bundle_resources(value) if value.get("resourceType") == "Bundle" else [value]
        expected = answer(templates[key].replace("{{context.patientId}}", patient), resources)
        expected = bundle_resources(expected) if expected.get("resourceType") == "Bundle" else [expected]
        assert sorted(r["id"] for r in sent) == sorted(r["id"] for r in expected), key
        assert all(_as_written(r) == chart[(r["resourceType"], r["id"])] for r in sent), key


@pytest.mark.parametrize("fixture", SANDBOX_ORDERS, ids=[f.test_id for f in SANDBOX_ORDERS])
def test_the_sandbox_scenarios_keep_the_sandbox_draft_shape(fixture):
    """The official sandbox's drafts are not valid R4 in fields the rules do not read; the fixtures must
    keep them so (cds-hooks/sandbox src/reducers/medication-reducers.js createFhirResource)."""
    bundle = fixture.call["draftOrders"]
    [draft] = [entry["resource"] for entry in bundle["entry"]]
    assert "type" not in bundle
    assert (draft["resourceType"], draft["id"], draft["status"]) == ("MedicationRequest", "request-123", "draft")
    if "medicationCodeableConcept" in draft:
        assert isinstance(draft["category"], dict)  # R4: a list
        [dosage] = draft["dosageInstruction"]
        assert dosage["doseAndRate"][0]["doseQuantity"]["code"] == "{pill}"
    if "reasonCode" in draft:
        assert isinstance(draft["reasonCode"], dict)  # R4: a list
