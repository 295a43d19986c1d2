"""Prefetch key by key (CDS Hooks 2.0): present, null, empty, OperationOutcome, absent -> fetched, 412."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
import responses
from builders.fhir import patient
from helpers import FHIR_BASE, TOKEN, patient_view_request, searchset, service_definition, with_fhir_server

from cds_service.data.allowlist import ServerPolicy
from cds_service.data.fhir_client import FetchLimits
from cds_service.data.prefetch import FetchSettings, resolve
from cds_service.errors import InvalidRequest, PrefetchUnavailable
from cds_service.protocol.prefetch_tokens import fill_template
from cds_service.protocol.request import parse_hook_call

SERVICE = service_definition("b12-status")
PATIENT = patient("female", "1950-01-01")


@pytest.fixture
def settings():
    with ThreadPoolExecutor(max_workers=16) as executor:
        yield FetchSettings(session=requests.Session(), executor=executor, limits=FetchLimits(),
                            deadline_seconds=2.0,
                            servers=ServerPolicy.from_settings([FHIR_BASE], development=False))


def full_prefetch(**overrides):
    """A prefetch with every key of the b12-status service answered (empty searchsets)."""
    prefetch = {key: searchset() for key in SERVICE.prefetch}
    prefetch["patient"] = PATIENT
    prefetch.update(overrides)
    return prefetch


def call(body):
    return parse_hook_call(body, "patient-view")


def b12(oid="b12-1", patient="pat-1"):
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
            "subject": {"reference": f"Patient/{patient}"}}


def test_templates_are_filled_from_the_context():
    filled = fill_template(SERVICE.prefetch["b12Labs"], dict(call(patient_view_request("abc-123")).context))
    assert filled.startswith("Observation?patient=abc-123&code=http://loinc.org|2132-9,")


def test_present_keys_are_used_without_any_fetch(settings):
    body = patient_view_request(prefetch=full_prefetch(b12Labs=searchset(b12())))
    with responses.RequestsMock() as mocked:  # any HTTP call would fail this test
        data = resolve(SERVICE, call(body), settings)
        assert len(mocked.calls) == 0
    assert data.by_key["b12Labs"][0]["id"] == "b12-1"
    assert data.by_key["patient"] == [PATIENT]
    assert data.missing == {}


@dataclass(frozen=True)
class Needs:
    """Only what the data layer declares it needs of a service (``PrefetchNeeds``), nothing of the registry."""

    id: str
    prefetch: dict[str, str]
    required_keys: frozenset[str]
    newest_page_keys: frozenset[str] = frozenset()


def test_resolving_needs_only_the_prefetch_needs_of_a_service(settings):
    needs = Needs("any-service", {"patient": SERVICE.prefetch["patient"], "b12Labs": SERVICE.prefetch["b12Labs"],
                                  "conditions": SERVICE.prefetch["conditions"]}, frozenset({"patient", "b12Labs"}))
    body = patient_view_request(prefetch={"patient": PATIENT, "b12Labs": searchset(b12())})
    data = resolve(needs, call(body), settings)  # conditions: optional, not prefetched, no fhirServer
    assert data.by_key["b12Labs"][0]["id"] == "b12-1" and data.by_key["patient"] == [PATIENT]
    assert set(data.missing) == {"conditions"}
    with pytest.raises(PrefetchUnavailable, match="b12Labs"):
        resolve(needs, call(patient_view_request(prefetch={"patient": PATIENT})), settings)


def test_null_means_no_data_and_is_not_refetched(settings):
    body = with_fhir_server(patient_view_request(prefetch=full_prefetch(conditions=None)))
    with responses.RequestsMock():
        data = resolve(SERVICE, call(body), settings)
    assert data.by_key["conditions"] == []
    assert data.provenance["conditions"] == "null"


def test_an_empty_searchset_means_no_data(settings):
    data = resolve(SERVICE, call(patient_view_request(prefetch=full_prefetch())), settings)
    assert data.by_key["b12Labs"] == []
    assert data.provenance["b12Labs"] == "prefetch"


@responses.activate
def test_an_absent_key_is_fetched_with_the_bearer_token(settings):
    prefetch = full_prefetch()
    del prefetch["b12Labs"]
    responses.get(f"{FHIR_BASE}/Observation", json=searchset(b12()))
    data = resolve(SERVICE, call(with_fhir_server(patient_view_request(prefetch=prefetch))), settings)
    assert data.by_key["b12Labs"][0]["id"] == "b12-1"
    assert data.provenance["b12Labs"] == "fetched"
    [sent] = responses.calls
    assert sent.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.request.url.startswith(f"{FHIR_BASE}/Observation?patient=pat-1&code=http://loinc.org")


@responses.activate
def test_an_operation_outcome_means_the_ehr_failed_the_key_so_it_is_fetched(settings):
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    responses.get(f"{FHIR_BASE}/Condition", json=searchset())
    body = with_fhir_server(patient_view_request(prefetch=full_prefetch(conditions=failed)))
    data = resolve(SERVICE, call(body), settings)
    assert data.provenance["conditions"] == "fetched"
    assert len(responses.calls) == 1


def test_an_absent_required_key_without_fhir_server_is_412_naming_the_key(settings):
    prefetch = full_prefetch()
    del prefetch["conditions"]
    with pytest.raises(PrefetchUnavailable) as caught:
        resolve(SERVICE, call(patient_view_request(prefetch=prefetch)), settings)
    assert caught.value.status == 412
    assert caught.value.expression == ["prefetch.conditions"]
    assert "no fhirServer" in caught.value.message


def test_an_absent_optional_key_without_fhir_server_is_recorded_as_missing(settings):
    prefetch = full_prefetch()
    del prefetch["bloodCount"]
    data = resolve(SERVICE, call(patient_view_request(prefetch=prefetch)), settings)
    assert "bloodCount" in data.missing


@responses.activate
def test_a_failing_required_fetch_is_412(settings):
    prefetch = full_prefetch()
    del prefetch["medicationRequests"]
    responses.get(f"{FHIR_BASE}/MedicationRequest", status=500)
    with pytest.raises(PrefetchUnavailable, match="medicationRequests: HTTP 500"):
        resolve(SERVICE, call(with_fhir_server(patient_view_request(prefetch=prefetch))), settings)


@responses.activate
def test_a_paginated_prefetch_is_followed_on_the_fhir_server(settings):
    page2 = f"{FHIR_BASE}/Observation?patient=pat-1&page=2"
    responses.get(page2, json=searchset(b12("b12-2")))
    body = with_fhir_server(patient_view_request(
        prefetch=full_prefetch(b12Labs=searchset(b12("b12-1"), next_url=page2))))
    data = resolve(SERVICE, call(body), settings)
    assert [r["id"] for r in data.by_key["b12Labs"]] == ["b12-1", "b12-2"]


def test_a_paginated_prefetch_without_fhir_server_keeps_the_first_page_and_says_so(settings):
    body = patient_view_request(prefetch=full_prefetch(
        b12Labs=searchset(b12("b12-1"), next_url=f"{FHIR_BASE}/Observation?page=2")))
    data = resolve(SERVICE, call(body), settings)
    assert [r["id"] for r in data.by_key["b12Labs"]] == ["b12-1"]
    assert any("further pages" in note for note in data.notes)


def egfr(oid):
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "98979-8"}]},
            "subject": {"reference": "Patient/pat-1"}}


@responses.activate  # a request for page 2 would fail: none is registered
def test_a_key_whose_newest_page_suffices_is_not_followed_to_further_pages(settings):
    assert {"renalFunction", "bloodCount"} <= SERVICE.newest_page_keys
    assert "medicationRequests" not in SERVICE.newest_page_keys
    page2 = f"{FHIR_BASE}/Observation?patient=pat-1&page=2"
    body = with_fhir_server(patient_view_request(
        prefetch=full_prefetch(renalFunction=searchset(egfr("e-1"), next_url=page2))))
    data = resolve(SERVICE, call(body), settings)
    assert [r["id"] for r in data.by_key["renalFunction"]] == ["e-1"]
    assert len(responses.calls) == 0
    assert not any("renalFunction" in note for note in data.notes)  # nothing is missing: not a truncation


@responses.activate
def test_a_fetched_newest_page_key_takes_the_first_page_only_and_a_medication_search_takes_all(settings):
    page2 = f"{FHIR_BASE}/Observation?patient=pat-1&page=2"
    responses.get(page2, json=searchset(egfr("e-2")))
    responses.get(f"{FHIR_BASE}/Observation", json=searchset(egfr("e-1"), next_url=page2))
    medication_page2 = f"{FHIR_BASE}/MedicationRequest?patient=pat-1&page=2"
    responses.get(medication_page2, json=searchset({"resourceType": "MedicationRequest", "id": "mr-2",
                                                    "subject": {"reference": "Patient/pat-1"}}))
    responses.get(f"{FHIR_BASE}/MedicationRequest", json=searchset(
        {"resourceType": "MedicationRequest", "id": "mr-1", "subject": {"reference": "Patient/pat-1"}},
        next_url=medication_page2))
    prefetch = full_prefetch()
    del prefetch["renalFunction"], prefetch["medicationRequests"]
    data = resolve(SERVICE, call(with_fhir_server(patient_view_request(prefetch=prefetch))), settings)
    assert [r["id"] for r in data.by_key["renalFunction"]] == ["e-1"]
    assert [r["id"] for r in data.by_key["medicationRequests"]] == ["mr-1", "mr-2"]
    assert [c.request.url for c in responses.calls].count(page2) == 0


def test_prefetch_about_another_patient_is_refused(settings):
    body = patient_view_request(prefetch=full_prefetch(b12Labs=searchset(b12(patient="someone-else"))))
    with pytest.raises(InvalidRequest, match="another patient") as caught:
        resolve(SERVICE, call(body), settings)
    assert caught.value.expression == ["prefetch.b12Labs"]


def test_a_prefetch_value_that_is_not_a_resource_is_400(settings):
    with pytest.raises(InvalidRequest, match="must be a FHIR resource or null"):
        resolve(SERVICE, call(patient_view_request(prefetch=full_prefetch(conditions=[1, 2]))), settings)


@responses.activate
def test_a_patient_the_server_does_not_have_is_412_not_silence(settings):
    # The context names a patient the EHR's own FHIR server does not hold: deciding on no data would
    # look like "nothing to do"; the integrator must see the inconsistency instead.
    prefetch = full_prefetch()
    del prefetch["patient"]
    responses.get(f"{FHIR_BASE}/Patient/pat-1", status=404)
    with pytest.raises(PrefetchUnavailable, match="patient: not found on the FHIR server") as caught:
        resolve(SERVICE, call(with_fhir_server(patient_view_request(prefetch=prefetch))), settings)
    assert caught.value.expression == ["prefetch.patient"]


@responses.activate
def test_an_empty_search_is_an_answer_not_a_failure(settings):
    prefetch = full_prefetch()
    del prefetch["conditions"]
    responses.get(f"{FHIR_BASE}/Condition", json=searchset())
    data = resolve(SERVICE, call(with_fhir_server(patient_view_request(prefetch=prefetch))), settings)
    assert data.by_key["conditions"] == []
    assert "conditions" not in data.missing


@responses.activate
def test_referenced_medications_missing_from_the_results_are_read(settings):
    statement = {"resourceType": "MedicationStatement", "id": "ms-1", "status": "active",
                 "medicationReference": {"reference": "Medication/met-500"},
                 "subject": {"reference": "Patient/pat-1"}}
    medication = {"resourceType": "Medication", "id": "met-500",
                  "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861007"}]}}
    responses.get(f"{FHIR_BASE}/Medication/met-500", json=medication)
    body = with_fhir_server(patient_view_request(
        prefetch=full_prefetch(medicationStatements=searchset(statement))))
    data = resolve(SERVICE, call(body), settings)
    assert data.medications["Medication/met-500"]["id"] == "met-500"


def test_included_medications_are_used_without_a_fetch(settings):
    request = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "active", "intent": "order",
               "medicationReference": {"reference": "Medication/m1"}, "subject": {"reference": "Patient/pat-1"}}
    bundle = searchset(request)
    bundle["entry"].append({"resource": {"resourceType": "Medication", "id": "m1"}, "search": {"mode": "include"}})
    with responses.RequestsMock():
        data = resolve(SERVICE, call(with_fhir_server(patient_view_request(
            prefetch=full_prefetch(medicationRequests=bundle)))), settings)
    assert "Medication/m1" in data.medications


@responses.activate
def test_absent_keys_are_fetched_concurrently_up_to_the_calls_share_of_slots(settings):
    # Each mocked FHIR response waits until a call's share of fetches (4) is in flight at once. Run one
    # after another, the first would wait alone and the barrier would break: no timing needed. Never more
    # than the share run at once: the other slots stay free for other calls.
    share = settings.slots_per_call
    assert share == 4 < len(SERVICE.prefetch)
    barrier = threading.Barrier(share, timeout=1.5)
    lock, in_flight, most = threading.Lock(), [0], [0]

    def answer(request):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        barrier.wait()
        with lock:
            in_flight[0] -= 1
        body = PATIENT if "/Patient/" in request.url else searchset()
        return 200, {"Content-Type": "application/fhir+json"}, __import__("json").dumps(body)

    responses.add_callback(responses.GET, __import__("re").compile(f"{FHIR_BASE}/.*"), callback=answer)
    data = resolve(SERVICE, call(with_fhir_server(patient_view_request())), settings)
    assert len(responses.calls) == len(SERVICE.prefetch)
    assert set(data.provenance.values()) == {"fetched"}
    assert data.missing == {}
    assert most[0] == share
