"""The FHIR callback client: bearer token, paging within limits, and every wait bounded."""

from __future__ import annotations

import time

import pytest
import requests
import responses
from helpers import FHIR_BASE, TOKEN, searchset

from cds_service.data.fhir_client import FetchError, FetchLimits, FhirClient


def make_client(limits: FetchLimits | None = None, deadline_in: float = 5.0) -> FhirClient:
    return FhirClient(requests.Session(), FHIR_BASE, TOKEN, limits or FetchLimits(),
                      time.monotonic() + deadline_in)


def observation(oid: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "subject": {"reference": "Patient/pat-1"}}


@responses.activate
def test_read_sends_the_bearer_token_and_returns_the_resource():
    responses.get(f"{FHIR_BASE}/Patient/pat-1", json={"resourceType": "Patient", "id": "pat-1"})
    assert make_client().read("Patient/pat-1")["id"] == "pat-1"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_read_of_a_missing_resource_is_no_data():
    responses.get(f"{FHIR_BASE}/Patient/nobody", status=404, json={"resourceType": "OperationOutcome"})
    assert make_client().read("Patient/nobody") is None


@responses.activate
def test_search_follows_next_links_on_the_same_server():
    page2 = f"{FHIR_BASE}/Observation?patient=pat-1&_page=2"
    responses.get(f"{FHIR_BASE}/Observation", match=[responses.matchers.query_param_matcher({"patient": "pat-1"})],
                  json=searchset(observation("o1"), next_url=page2))
    responses.get(page2, json=searchset(observation("o2")))
    result = make_client().search("Observation?patient=pat-1")
    assert [r["id"] for r in result.resources] == ["o1", "o2"]
    assert result.truncated is None
    assert all(call.request.headers["Authorization"] == f"Bearer {TOKEN}" for call in responses.calls)


@responses.activate
def test_endless_pagination_stops_at_the_page_cap():
    for page in range(1, 6):
        responses.get(f"{FHIR_BASE}/Observation?patient=pat-1&_page={page}",
                      json=searchset(observation(f"o{page}"),
                                     next_url=f"{FHIR_BASE}/Observation?patient=pat-1&_page={page + 1}"))
    result = make_client(FetchLimits(max_pages=3)).search("Observation?patient=pat-1&_page=1")
    assert [r["id"] for r in result.resources] == ["o1", "o2", "o3"]
    assert result.truncated == "stopped after 3 pages"


@responses.activate
def test_a_next_link_to_another_server_is_not_followed_so_the_token_stays_home():
    responses.get(f"{FHIR_BASE}/Condition?patient=pat-1",
                  json=searchset({"resourceType": "Condition", "id": "c1"},
                                 next_url="https://elsewhere.example.com/fhir/Condition?page=2"))
    result = make_client().search("Condition?patient=pat-1")
    assert [r["id"] for r in result.resources] == ["c1"]
    assert "another server" in result.truncated
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize(("status", "words"), [(401, "HTTP 401"), (403, "HTTP 403"), (500, "HTTP 500")])
def test_error_statuses_become_fetch_errors(status, words):
    responses.get(f"{FHIR_BASE}/Condition?patient=pat-1", status=status, body="denied")
    with pytest.raises(FetchError, match=words):
        make_client().search("Condition?patient=pat-1")


@responses.activate
def test_malformed_json_is_a_fetch_error():
    responses.get(f"{FHIR_BASE}/Condition?patient=pat-1", body="{not json", content_type="application/json")
    with pytest.raises(FetchError, match="malformed JSON"):
        make_client().search("Condition?patient=pat-1")


@responses.activate
def test_the_wrong_resource_type_is_a_fetch_error():
    responses.get(f"{FHIR_BASE}/Condition?patient=pat-1", json={"resourceType": "Patient", "id": "x"})
    with pytest.raises(FetchError, match="expected a Bundle"):
        make_client().search("Condition?patient=pat-1")


@responses.activate
def test_a_response_over_the_size_cap_is_refused():
    responses.get(f"{FHIR_BASE}/Condition?patient=pat-1", body="x" * 5000)
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        make_client(FetchLimits(max_bytes=1000)).search("Condition?patient=pat-1")


@responses.activate
def test_redirects_are_not_followed():
    responses.get(f"{FHIR_BASE}/Patient/pat-1", status=302, headers={"Location": "https://evil.example.com/"})
    with pytest.raises(FetchError, match="redirect"):
        make_client().read("Patient/pat-1")
    assert len(responses.calls) == 1


@responses.activate
def test_a_timeout_is_a_fetch_error():
    responses.get(f"{FHIR_BASE}/Patient/pat-1", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(FetchError, match="no answer within"):
        make_client().read("Patient/pat-1")


@responses.activate
def test_nothing_is_sent_once_the_deadline_has_passed():
    with pytest.raises(FetchError, match="deadline"):
        make_client(deadline_in=-1).read("Patient/pat-1")
    assert len(responses.calls) == 0


@responses.activate
def test_the_token_never_appears_in_a_fetch_error():
    responses.get(f"{FHIR_BASE}/Patient/pat-1", body=requests.exceptions.ConnectionError(f"boom {TOKEN}"))
    with pytest.raises(FetchError) as caught:
        make_client().read("Patient/pat-1")
    assert TOKEN not in str(caught.value)


@responses.activate
def test_a_search_whose_bundle_reports_an_error_is_a_fetch_error():
    bundle = searchset(observation("o1"))
    bundle["entry"].append({"resource": {"resourceType": "OperationOutcome",
                                         "issue": [{"severity": "fatal", "code": "exception"}]},
                            "search": {"mode": "outcome"}})
    responses.get(f"{FHIR_BASE}/Observation?patient=pat-1", json=bundle)
    with pytest.raises(FetchError, match="reported an error"):
        make_client().search("Observation?patient=pat-1")
