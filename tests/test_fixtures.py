"""Every clinical scenario in fhir_fixtures/ through the HTTP API: the golden response, and the
scenario's independent expectation (indicators and card kinds written from B12-RULES.md)."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fixture_tools import build_request, fixture_app, iter_fixture_calls
from helpers import KIND_TOPICS, load_json, openapi_validator

FIXTURE_CALLS = list(iter_fixture_calls())
IDS = [fixture.test_id for fixture in FIXTURE_CALLS]

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
