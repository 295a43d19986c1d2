"""Property (B12-RULES.md §7, tolerant reading): no safety card depends on a field the rules do not read.

For every fixture call that yields a card, hypothesis corrupts or adds elements the rules never
read (wrong JSON types, unknown extensions, invalid codes in unrelated fields: a ``category``
object, a ``note`` string, a ``requester`` number, junk in ``meta``) on the prefetched resources and
the draft orders. The cards' kinds and indicators must stay those of the golden response.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fixture_tools import fixture_app, iter_fixture_calls
from helpers import load_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.chart.elements import SPECS

JSON = dict[str, Any]
CALLS = [f for f in iter_fixture_calls() if load_json(f.response_path)["cards"]]
ANY_TYPE = ("meta", "text", "extension", "identifier", "implicitRules", "language", "_status", "_id")
#: Elements no reader uses, per type (elements.SPECS lists the ones they do; ``subject`` and
#: ``patient`` are read by the data layer's wrong-patient check, ``contained`` by references).
NOT_READ = {
    "Patient": ("name", "telecom", "address", "maritalStatus", "communication", "generalPractitioner", "photo"),
    "Observation": ("category", "performer", "encounter", "specimen", "method", "bodySite", "note", "basedOn"),
    "MedicationRequest": ("category", "requester", "reasonCode", "encounter", "insurance", "intent", "priority",
                          "courseOfTherapyType", "note", "recorder"),
    "MedicationStatement": ("category", "informationSource", "derivedFrom", "reasonCode", "note", "context"),
    "Condition": ("encounter", "recorder", "asserter", "evidence", "stage", "bodySite", "note", "severity"),
    "Procedure": ("category", "performer", "encounter", "reasonCode", "outcome", "note", "location"),
    "Medication": ("manufacturer", "batch", "status", "amount"),
}

LEAVES = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=12)
JUNK = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["url", "coding", "code", "system", "value", "x"]), inner,
                                      max_size=3), max_leaves=6)
SHAPED = st.sampled_from([
    {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "community"}]},
    {"coding": {"system": "urn:bogus", "code": 7}}, "free text where an object belongs", 12345,
    [{"url": 42, "valueString": {"nested": True}}], {"versionId": [], "tag": "junk", "lastUpdated": "yesterday"},
    [{"url": "http://example.org/unknown-extension", "valueCodeableConcept": {"coding": [{"code": "not-a-code"}]}}],
])
VALUES = SHAPED | JUNK


def _resources(body: JSON) -> list[JSON]:
    """Every resource of the call: prefetched (Bundles opened) and drafted."""
    found: list[JSON] = []
    for value in [*body.get("prefetch", {}).values(), body["context"].get("draftOrders")]:
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            found += [e["resource"] for e in value.get("entry", []) if isinstance(e.get("resource"), dict)]
        elif isinstance(value, dict) and "resourceType" in value:
            found.append(value)
    return [r for r in found if r.get("resourceType") in NOT_READ]


_APPS: dict[Any, Any] = {}


def _client(fixture):
    """One app per evaluation day, kept for the module (the clock is all that differs)."""
    if fixture.evaluated_at not in _APPS:
        _APPS[fixture.evaluated_at] = fixture_app(fixture.evaluated_at)
    return _APPS[fixture.evaluated_at].test_client()


def _kinds(result: JSON) -> list[tuple[str, str]]:
    return [(card["indicator"], card["source"]["topic"]["code"]) for card in result["cards"]]


def test_the_unread_elements_are_really_not_read():
    for kind, keys in NOT_READ.items():
        assert not set(keys) & set(SPECS.get(kind, {})), kind


@pytest.mark.parametrize("fixture", CALLS, ids=[f.test_id for f in CALLS])
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupting_unread_elements_never_changes_the_cards(fixture, data):
    body = copy.deepcopy(load_json(fixture.request_path))
    resources = _resources(body)
    for resource in resources:  # every resource at once: drafts, labs, problems, medicines, patient
        keys = st.sampled_from((*ANY_TYPE, *NOT_READ[resource["resourceType"]]))
        resource.update(data.draw(st.dictionaries(keys, VALUES, min_size=1, max_size=2), label=resource["id"]))
    response = _client(fixture).post(f"/cds-services/{fixture.service}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert _kinds(response.get_json()) == _kinds(load_json(fixture.response_path))
