"""What HAPI FHIR (our JPA server in tests/hapi_server, R4 on H2) does that sekmet does not, and that the
service and the developer tools cope with it."""

from __future__ import annotations

import json
import shutil
import time
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from fhir_server import BEARER, load_transaction
from fixture_tools import FixtureCall, build_request, iter_fixture_calls
from helpers import FIXTURES, KIND_TOPICS, ROOT, counting_uuids, load_json, with_fhir_server
from live_service import invoke

from cds_service import create_app
from cds_service.data.fhir_client import FetchLimits, FhirClient, next_link

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("fhir_server", ["hapi"], indirect=True)]

HAPI_VERSION = "8.8.0"


def test_the_server_is_hapi_fhir_r4_of_the_pinned_release(fhir_server):
    statement = requests.get(f"{fhir_server}/metadata", timeout=60).json()
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["software"]["name"] == "HAPI FHIR Server"
    assert statement["software"]["version"] == HAPI_VERSION


def test_loading_the_fixtures_twice_creates_nothing_the_second_time(loaded_fhir_server):
    scenarios = len([p for p in FIXTURES.iterdir() if (p / "chart.json").exists()])
    before = patient_count(loaded_fhir_server)
    assert before >= scenarios  # one patient per scenario (and those other tests add)
    again = invoke("load-fixtures", "--fhir-base", loaded_fhir_server, "--token", BEARER, "--keep-dates")
    assert again.exit_code == 0, again.output
    assert "(0 created," in again.output.splitlines()[-1]
    assert patient_count(loaded_fhir_server) == before


def patient_count(base: str) -> int:
    """Count the Patients now (no-cache: HAPI otherwise answers a repeated search from its cache for 60 s)."""
    return requests.get(f"{base}/Patient?_summary=count", headers={"Cache-Control": "no-cache"}, timeout=60).json()[
        "total"]


# --- one extra patient with more results than a page: the metformin scenario under new ids, 24 more
# --- (paracetamol) MedicationStatements and 12 eGFR results, one a month

PAGED = "pgx-patient"
METFORMIN = "metformin_five_years_never_tested"


def paged_chart() -> dict[str, Any]:
    """The metformin scenario's chart for Patient/pgx-patient, with more results than one page of each."""
    text = (FIXTURES / METFORMIN / "chart.json").read_text(encoding="utf-8").replace("mfy-", "pgx-")
    chart = json.loads(text)
    chart["entry"] += [_put(_paracetamol(n)) for n in range(24)] + [_put(_egfr(n)) for n in range(12)]
    return chart


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def _paracetamol(n: int) -> dict[str, Any]:
    return {"resourceType": "MedicationStatement", "id": f"pgx-paracetamol-{n}", "status": "completed",
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg tablets"},
            "subject": {"reference": f"Patient/{PAGED}"}, "effectivePeriod": {"start": f"2025-{n % 12 + 1:02d}-01"}}


def _egfr(n: int) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"pgx-egfr-{n}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "98979-8"}], "text": "eGFR"},
            "subject": {"reference": f"Patient/{PAGED}"}, "effectiveDateTime": f"2025-{n + 1:02d}-15",
            "valueQuantity": {"value": 80 + n, "unit": "mL/min/{1.73_m2}", "system": "http://unitsofmeasure.org",
                              "code": "mL/min/{1.73_m2}"}}


@pytest.fixture(scope="module")
def hapi(loaded_fhir_server: str) -> str:
    """HAPI with every fixture and the paged patient loaded."""
    load_transaction(loaded_fhir_server, paged_chart())
    return loaded_fhir_server


def client_for(base: str) -> FhirClient:
    return FhirClient(requests.Session(), base, None, FetchLimits(request_timeout=60), time.monotonic() + 300)


def metformin_fixture() -> FixtureCall:
    return next(f for f in iter_fixture_calls() if f.directory.name == METFORMIN)


def kinds(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [(c["indicator"], c["source"]["topic"]["code"]) for c in response.get_json()["cards"]]


def expected(fixture: FixtureCall) -> list[tuple[str, str]]:
    expect = fixture.call["expect"]
    return list(zip(expect["indicators"], [KIND_TOPICS[k] for k in expect["cardKinds"]], strict=True))


def call_service(base: str, fixture: FixtureCall, patient: str, prefetch: dict[str, Any] | None,
                 **config: Any) -> tuple[Any, list[str]]:
    """POST the fixture's hook call for ``patient`` (with ``prefetch``, or none); return the response and
    the URLs the service fetched from HAPI."""
    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://", "FHIR_DEADLINE": 60.0,
                      "FHIR_REQUEST_TIMEOUT": 30.0, "CLOCK": lambda: fixture.evaluated_at,
                      "UUID_FACTORY": counting_uuids(), **config})
    fetched: list[str] = []
    app.extensions["b12cds"].fetch_settings.session.hooks["response"].append(
        lambda response, *args, **kwargs: fetched.append(unquote(response.request.url)))
    body = build_request(fixture)
    body["context"]["patientId"] = patient
    if prefetch is None:
        del body["prefetch"]
    else:
        body["prefetch"] = prefetch
    response = app.test_client().post(f"/cds-services/{fixture.service}", json=with_fhir_server(body, base=base))
    return response, fetched


def templates(service: str) -> dict[str, str]:
    return load_json(ROOT / "hooks" / f"{service}.json")["prefetch"]


def test_hapi_pages_a_search_with_getpages_links_and_the_client_follows_them(hapi):
    first = requests.get(f"{hapi}/MedicationStatement?patient={PAGED}", timeout=60).json()
    assert len(first["entry"]) == 20  # HAPI's default page size (the launcher's --page-size)
    assert "_getpages=" in next_link(first)
    result = client_for(hapi).search(f"MedicationStatement?patient={PAGED}")
    assert len(result.resources) == 25 and result.truncated is None
    assert len({r["id"] for r in result.resources}) == 25


def test_a_patient_whose_searches_span_pages_gets_the_same_cards_without_prefetch(hapi):
    fixture = metformin_fixture()
    response, fetched = call_service(hapi, fixture, PAGED, None)
    assert kinds(response) == expected(fixture)
    assert any("_getpages=" in url for url in fetched)  # MedicationStatement: 25, on two pages


def test_a_prefetched_first_page_is_completed_from_its_next_link(hapi):
    fixture = metformin_fixture()
    prefetch = {key: requests.get(f"{hapi}/{query.replace('{{context.patientId}}', PAGED)}", timeout=60).json()
                for key, query in templates(fixture.service).items()}
    assert next_link(prefetch["medicationStatements"])
    response, fetched = call_service(hapi, fixture, PAGED, prefetch)
    assert kinds(response) == expected(fixture)
    assert fetched and all("_getpages=" in url for url in fetched)


def test_sort_by_date_descending_and_count_give_the_newest_results_first_a_page_at_a_time(hapi):
    query = f"Observation?patient={PAGED}&code=http://loinc.org|98979-8&_sort=-date&_count=10"
    first = requests.get(f"{hapi}/{query}", timeout=60).json()
    dates = [e["resource"]["effectiveDateTime"] for e in first["entry"]]
    assert dates == sorted(dates, reverse=True) and len(dates) == 10 and dates[0].startswith("2025-12-15")
    every = client_for(hapi).search(query).resources
    assert [r["effectiveDateTime"][:10] for r in every] == [f"2025-{m:02d}-15" for m in range(12, 0, -1)]


@pytest.mark.parametrize(("codes", "count"), [
    ("http://loinc.org|98979-8,http://loinc.org|2132-9", 12),  # a list: any of them
    ("98979-8", 12),  # a code without its system matches in any system
    ("http://snomed.info/sct|98979-8", 0),  # the system is part of the token
    ("http://loinc.org|", 13),  # every LOINC-coded Observation of the patient (12 eGFR and 1 Hb)
])
def test_token_searches_with_system_and_code_lists(hapi, codes, count):
    result = client_for(hapi).search(f"Observation?patient={PAGED}&code={codes}")
    assert len(result.resources) == count


def test_referenced_medications_come_as_include_entries_and_need_no_reads(hapi):
    [fixture] = [f for f in iter_fixture_calls() if f.directory.name == "ppi_two_years_never_tested"]
    patient = "ppy-patient"
    prefetch = {key: requests.get(f"{hapi}/{query.replace('{{context.patientId}}', patient)}", timeout=60).json()
                for key, query in templates(fixture.service).items()}
    requests_bundle = requests.get(
        f"{hapi}/MedicationRequest?patient={patient}&_include=MedicationRequest:medication", timeout=60).json()
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in requests_bundle["entry"]}
    assert modes == {("MedicationRequest", "match"), ("Medication", "include")}
    prefetch["medicationRequests"] = requests_bundle
    response, fetched = call_service(hapi, fixture, patient, prefetch)
    assert fetched == []  # the included Medication was used: nothing read back
    assert response.get_json() == load_json(fixture.response_path)

    del prefetch["medicationRequests"]  # without _include, the service reads the Medication itself
    response, fetched = call_service(hapi, fixture, patient, prefetch)
    assert response.get_json() == load_json(fixture.response_path)
    assert any(url.endswith("/Medication/ppy-med-omeprazole") for url in fetched)


def test_a_patient_hapi_does_not_have_gives_412_naming_the_patient_key(hapi):
    fixture = metformin_fixture()
    response, _ = call_service(hapi, fixture, "no-such-patient", None)
    assert response.status_code == 412, response.get_data(as_text=True)
    issue = response.get_json()["issue"][0]
    assert "patient: not found on the FHIR server" in issue["diagnostics"]
    assert "prefetch.patient" in issue["expression"]


def test_a_deleted_patient_410_gives_412_naming_the_patient_key(hapi):
    gone = {"resourceType": "Patient", "id": "gone-patient", "gender": "female"}
    assert requests.put(f"{hapi}/Patient/gone-patient", json=gone, timeout=60).status_code in (200, 201)
    assert requests.delete(f"{hapi}/Patient/gone-patient", timeout=60).status_code in (200, 204)
    assert requests.get(f"{hapi}/Patient/gone-patient", timeout=60).status_code == 410
    response, _ = call_service(hapi, metformin_fixture(), "gone-patient", None)
    assert response.status_code == 412, response.get_data(as_text=True)
    assert "patient: not found on the FHIR server" in response.get_json()["issue"][0]["diagnostics"]


def test_a_search_hapi_rejects_gives_412_naming_the_key(hapi, tmp_path):
    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    definition = load_json(hooks / "b12-status.json")
    definition["prefetch"]["b12Labs"] += "&authoredon=ge2020-01-01"  # in the CDS Hooks subset, not on Observation
    (hooks / "b12-status.json").write_text(json.dumps(definition))
    rejected = requests.get(f"{hapi}/Observation?patient={PAGED}&authoredon=ge2020-01-01", timeout=60)
    assert rejected.status_code == 400 and rejected.json()["resourceType"] == "OperationOutcome"

    response, _ = call_service(hapi, metformin_fixture(), PAGED, None, HOOKS_DIR=str(hooks))
    assert response.status_code == 412, response.get_data(as_text=True)
    issue = response.get_json()["issue"][0]
    assert "b12Labs: HTTP 400" in issue["diagnostics"]
    assert issue["expression"] == ["prefetch.b12Labs"]
