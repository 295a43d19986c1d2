"""Tolerant reading (B12-RULES.md §7): a safety card never depends on a field the rules do not read.

The requests are the fixtures' own, changed the way real EHR clients send them (the official
CDS Hooks sandbox writes a draft's ``category`` as one object and its dose unit as ``{pill}``).
"""

from __future__ import annotations

import copy
from typing import Any

from fixture_tools import fixture_app, iter_fixture_calls
from helpers import load_json

FAD_SELECT = next(f for f in iter_fixture_calls()
                  if f.scenario == "folic_acid_ordered_b12_deficient" and f.service == "folic-acid-safety-select")
CATEGORY_OBJECT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                               "code": "community"}]}


def _post(body: dict[str, Any]) -> dict[str, Any]:
    response = fixture_app(FAD_SELECT.evaluated_at).test_client().post(
        f"/cds-services/{FAD_SELECT.service}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _draft(body: dict[str, Any]) -> dict[str, Any]:
    return body["context"]["draftOrders"]["entry"][0]["resource"]


def _kinds(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(card["indicator"], card["source"]["topic"]["code"]) for card in result["cards"]]


def test_a_category_object_on_the_draft_still_gives_the_critical_card_and_no_note() -> None:
    body = copy.deepcopy(load_json(FAD_SELECT.request_path))
    _draft(body)["category"] = CATEGORY_OBJECT
    result = _post(body)
    assert _kinds(result) == [("critical", "folate_deficient")]
    assert "category" not in result["cards"][0]["detail"]


def test_sandbox_shaped_draft_with_a_pill_dose_reads_the_dose_from_the_product() -> None:
    body = copy.deepcopy(load_json(FAD_SELECT.request_path))
    draft = _draft(body)
    draft["category"] = CATEGORY_OBJECT
    draft["medicationCodeableConcept"] = {"text": "Folic Acid 1 MG Oral Tablet", "coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "310410",
         "display": "Folic Acid 1 MG Oral Tablet"}]}
    draft["dosageInstruction"] = [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "{pill}",
                                                                     "system": "http://unitsofmeasure.org",
                                                                     "code": "{pill}"}}]}]
    result = _post(body)
    assert _kinds(result) == [("critical", "folate_deficient")]
    assert "1 mg/day" in result["cards"][0]["detail"]


def test_an_unreadable_dose_is_named_and_still_triggers() -> None:
    body = copy.deepcopy(load_json(FAD_SELECT.request_path))
    _draft(body)["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = "five"
    result = _post(body)
    assert _kinds(result) == [("critical", "folate_deficient")]
    detail = result["cards"][0]["detail"]
    assert "dose could not be read" in detail
    assert "dosageInstruction could not be read" in detail


def test_a_draft_with_a_malformed_medication_reference_still_gives_the_critical_card() -> None:
    """The draft names folic acid in ``medicationCodeableConcept``; a ``medicationReference`` beside it that is no
    Reference object (a bare string, a number, a list) answered 500 before: the data layer read it for a
    Medication to fetch. It names nothing to fetch, and the warning stands."""
    for malformed in ("Medication/folic-acid", 5, [{"reference": "Medication/folic-acid"}]):
        body = copy.deepcopy(load_json(FAD_SELECT.request_path))
        _draft(body)["medicationReference"] = malformed
        assert _kinds(_post(body)) == [("critical", "folate_deficient")], malformed


def test_a_prefetched_record_whose_id_is_no_string_is_read_and_the_card_stands() -> None:
    """A list or an object as a resource's ``id`` answered 500 (the chart's de-duplication hashed it)."""
    for malformed in (["b12-1"], {"value": "b12-1"}, 5):
        body = copy.deepcopy(load_json(FAD_SELECT.request_path))
        for entry in body["prefetch"]["b12Labs"]["entry"]:
            entry["resource"]["id"] = malformed
        assert _kinds(_post(body)) == [("critical", "folate_deficient")], malformed
