"""The data layer's faster ways give the answers of the plain ones (docs/performance.md, session 6): prefetch
queries filled once per service and set of context values, then reused; the plain fill is
:func:`fill_template` per key and call, and the read check ``READ_QUERY`` on each filled query. Session 8: a
searchset walked once, the prefetched values classified with it, and the Medications at hand found in one walk;
the plain versions are spelled out here as they stood, and compared over varied and malformed input.
"""

from __future__ import annotations

from helpers import service_definition
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.data.fhir_client import bundle_resources, next_link, search_failed, searchset_resources
from cds_service.data.medications import MEDICATION_REF, USES_MEDICATION, medications_at_hand
from cds_service.data.prefetch import READ_QUERY, _other_patient, _Provided, _queries, _use_provided
from cds_service.errors import InvalidRequest
from cds_service.protocol.prefetch_tokens import fill_template, template_tokens, token_values

SERVICES = [service_definition(s) for s in ("b12-status", "folic-acid-safety-sign", "folic-acid-safety-select")]
ODD_TEMPLATES = {
    "user": "{{context.userId}}", "role": "X?a={{userPractitionerRoleId}}&b={{userPractitionerId}}",
    "patientRead": "Patient/{{ context.patientId }}", "plain": "Observation?code=1", "none": "X?a={{patientId}}",
    "odd": "X?a={{context.draftOrders}}&b={{context.selections}}&c={{context.nothing}}{{ userPatientId }}",
    "enc": "Encounter/{{context.encounterId}}", "empty": "{{}}{{context.}}",
}
_JUNK = st.none() | st.booleans() | st.integers(-2, 2) | st.just([]) | st.just({}) | st.just(["a"])
_ids = st.sampled_from(["p-1", "p 1", "abc-123", "a/b", "x&y=1", "", " ", "Patient/p-1"]) | _JUNK
_users = st.sampled_from(["Practitioner/7", "PractitionerRole/r-9", "Patient/p-1", "RelatedPerson/x", "7", "/",
                          "Practitioner/", ""]) | _JUNK
_contexts = st.fixed_dictionaries({}, optional={"patientId": _ids, "userId": _users, "encounterId": _ids,
                                                "draftOrders": _ids, "selections": _ids, "nothing": _ids})


def _plain(templates: dict[str, str], context: dict[str, object]) -> list[tuple[str, str, str | None]]:
    found = []
    for key, template in templates.items():
        query = fill_template(template, context)
        read = READ_QUERY.match(query)
        found.append((key, query, read.group(1) if read else None))
    return found


@settings(max_examples=400, deadline=None)
@given(st.lists(_contexts, min_size=1, max_size=4))
def test_filled_queries_are_the_plain_fills(contexts: list[dict[str, object]]) -> None:
    for templates in [*(s.prefetch for s in SERVICES), ODD_TEMPLATES]:
        for context in [*contexts, *contexts]:  # the second time, from what was remembered
            assert list(_queries(templates, context)) == _plain(templates, context)


@settings(max_examples=300, deadline=None)
@given(_contexts, _contexts)
def test_equal_token_values_fill_alike(first: dict[str, object], second: dict[str, object]) -> None:
    """The key the fills are remembered by: equal keys, equal queries (every template, every token)."""
    for templates in [*(s.prefetch for s in SERVICES), ODD_TEMPLATES]:
        tokens = template_tokens(templates.values())
        if token_values(tokens, first) == token_values(tokens, second):
            assert _plain(templates, first) == _plain(templates, second)


# --- a prefetched value classified in one walk of its entries (session 8) -----------------------------------


def _use_provided_as_before(key: str, value: object, patient_id: str, *, follow_pages: bool,
                            read_type: str | None) -> _Provided:
    """``prefetch._use_provided`` as it was: the failure check, the resource walk and the patient check each
    walked the Bundle."""
    if value is None:
        return _Provided([], provenance="null")
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise InvalidRequest(f"prefetch.{key} must be a FHIR resource or null", expression=[f"prefetch.{key}"])
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        return _Provided(None, reason="the EHR reported that this prefetch failed")
    read = read_type
    if read and kind == read:
        resources = [value]
    elif kind == "Bundle":
        if search_failed(value):
            return _Provided(None, reason="the EHR's search reported an error (OperationOutcome in the Bundle)")
        resources = bundle_resources(value)
    else:
        return _Provided(None, reason=f"expected {read if read else 'a Bundle'}, got {kind}")
    stranger = _other_patient(resources, patient_id)
    if stranger:
        raise InvalidRequest(f"prefetch.{key} holds {stranger}, which belongs to another patient",
                             expression=[f"prefetch.{key}"])
    if read and kind == "Bundle":
        resources = [r for r in resources if r["resourceType"] == read]
    more = follow_pages and kind == "Bundle" and next_link(value) is not None
    return _Provided(resources, next_bundle=value if more else None)


_TYPES = st.sampled_from(["Patient", "Observation", "Observation", "Observation", "Condition", "Condition", "Bundle",
                          "Medication", "OperationOutcome", ""])
#: One strategy for every malformed value (not a union of many): it should not crowd out the well-formed ones.
_junk = st.sampled_from([None, True, False, -2, 0, 2, 1.5, [], {}, "x", [{}], {"a": 1}])
_refs = st.sampled_from(["Patient/p-1", "Patient/p-1", "Patient/p-2", "Patient/p-1/_history/2", "http://x/Patient/p-2",
                         "Group/g", "#c1", ""])
_issues = st.lists(st.fixed_dictionaries({"severity": st.sampled_from(["error", "fatal", "warning", "information"])})
                   | _junk, max_size=3)
_well_formed = st.fixed_dictionaries({"resourceType": _TYPES}, optional={
    "id": st.sampled_from(["p-1", "p-2", "o1", "o2"]), "subject": st.fixed_dictionaries({"reference": _refs}),
    "patient": st.fixed_dictionaries({"reference": _refs}), "issue": _issues})
_malformed = st.fixed_dictionaries({}, optional={
    "resourceType": _TYPES | _junk, "id": _refs | _junk, "subject": st.fixed_dictionaries({"reference": _junk}) | _junk,
    "patient": _junk, "issue": _issues | _junk})
_resources = _well_formed | _well_formed | _malformed
_searches = st.fixed_dictionaries({"mode": st.sampled_from(["match", "include", "outcome"])})
_entries = (st.fixed_dictionaries({"resource": _resources}, optional={"search": _searches})
            | st.fixed_dictionaries({}, optional={"resource": _resources | _junk, "search": _searches | _junk})
            | _junk)
_links = st.lists(st.fixed_dictionaries({"relation": st.sampled_from(["next", "self"]),
                                         "url": st.just("http://x/Observation?page=2")}), max_size=2) | _junk
_bundles = st.fixed_dictionaries({"resourceType": st.just("Bundle")},
                                 optional={"entry": st.lists(_entries, max_size=6) | _junk, "link": _links})
_values = _bundles | _resources | _junk


def _outcome(function, *args, **kwargs) -> tuple[str, object]:
    """What a call gives: its answer, or its exception's type, message and FHIRPath expressions."""
    try:
        return "answer", function(*args, **kwargs)
    except Exception as exc:  # the fast path must raise what the plain one raised, whatever it is
        return type(exc).__name__, (str(exc), getattr(exc, "expression", None))


@settings(max_examples=1500, deadline=None)
@given(_bundles)
def test_one_walk_of_a_searchset_gives_the_two_walks_answer(bundle: dict) -> None:
    plain = _outcome(lambda: None if search_failed(bundle) else bundle_resources(bundle))
    assert _outcome(searchset_resources, bundle) == plain


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_bundles, _values), st.sampled_from([None, "Patient", "Observation", "Bundle"]),
       st.sampled_from(["p-1", "p-2"]), st.booleans())
def test_a_prefetched_value_is_classified_as_before(value: object, read_type: str | None, patient_id: str,
                                                    follow_pages: bool) -> None:
    found = _outcome(_use_provided, "k", value, patient_id, follow_pages=follow_pages, read_type=read_type)
    plain = _outcome(_use_provided_as_before, "k", value, patient_id, follow_pages=follow_pages, read_type=read_type)
    assert found == plain
    if found[0] == "answer" and found[1].next_bundle is not None:
        assert found[1].next_bundle is value


# --- the Medications at hand and the references to read, in one walk (session 8) ---------------------------


def _medications_as_before(resources: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """``prefetch._fetch_medications``'s two walks as they were: the Medications held, then
    ``medications.unresolved_medication_refs`` less those held."""
    held = {}
    for resource in resources:
        if resource["resourceType"] == "Medication" and isinstance(resource.get("id"), str):
            held[f"Medication/{resource['id']}"] = resource
    found: dict[str, None] = {}
    for resource in resources:
        if resource.get("resourceType") not in USES_MEDICATION:
            continue
        reference = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(reference, str) and MEDICATION_REF.match(reference):
            found.setdefault(reference, None)
    return held, [ref for ref in found if ref not in held]


_med_refs = st.sampled_from(["Medication/m1", "Medication/m2", "Medication/m 3", "#m1", "Medication/", "m1",
                             "Medication/m1/_history/1", "http://x/Medication/m1"]) | _junk
_med_records = st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["MedicationRequest", "MedicationStatement", "MedicationAdministration",
                                      "MedicationDispense", "Medication", "Observation", "Bundle"])},
    optional={"id": st.sampled_from(["m1", "m2", "m 3"]) | _junk,
              "medicationReference": st.fixed_dictionaries({}, optional={"reference": _med_refs}) | _junk})


@settings(max_examples=1000, deadline=None)
@given(st.lists(_med_records, max_size=8))
def test_the_medications_at_hand_are_found_as_before(resources: list[dict]) -> None:
    """As before, except where before raised: a ``medicationReference`` that is no object (a bare string in a draft
    order) now names nothing to fetch, as if it were absent (it answered 500: tests/test_tolerant_reading.py)."""
    found = _outcome(medications_at_hand, resources)
    readable = [_without_malformed_reference(resource) for resource in resources]
    assert found == _outcome(_medications_as_before, readable)
    if found[0] == "answer":
        assert list(found[1][0]) == list(_medications_as_before(readable)[0])  # the same order


def _without_malformed_reference(resource: dict) -> dict:
    reference = resource.get("medicationReference")
    if resource.get("resourceType") in USES_MEDICATION and reference and not isinstance(reference, dict):
        return {key: value for key, value in resource.items() if key != "medicationReference"}
    return resource
