"""A failing FHIR server never gives a 500 or a stuck worker: a 412 naming the data, or cards that say
which optional data were missing."""

from __future__ import annotations

import json
import re
import threading

import pytest
import requests
import responses
from builders.fhir import patient
from fixture_tools import iter_fixture_calls
from helpers import FHIR_BASE, load_json, patient_view_request, searchset, with_fhir_server

from cds_service import create_app

ANY_FHIR_URL = re.compile(f"{re.escape(FHIR_BASE)}/.*")
PATIENT = patient("male", "1950-01-01")


def quick_app(app_config):
    return create_app({**app_config, "FHIR_DEADLINE": 0.5, "FHIR_REQUEST_TIMEOUT": 0.3}).test_client()


def no_prefetch():
    return with_fhir_server(patient_view_request())


def reply(status: int = 200, body: str | None = None, content_type: str = "application/fhir+json"):
    def callback(request):
        if body is not None:
            return status, {"Content-Type": content_type}, body
        answer = PATIENT if "/Patient/" in request.url else searchset()
        return status, {"Content-Type": content_type}, json.dumps(answer)
    return callback


def assert_412_naming(response, words: str) -> None:
    assert response.status_code == 412, response.get_data(as_text=True)
    issue = response.get_json()["issue"][0]
    assert issue["code"] == "incomplete"
    assert words in issue["diagnostics"]
    assert "prefetch.b12Labs" in issue["expression"]


@responses.activate
def test_fhir_server_down(app_config):
    responses.add(responses.GET, ANY_FHIR_URL, body=requests.exceptions.ConnectionError("refused"))
    assert_412_naming(quick_app(app_config).post("/cds-services/b12-status", json=no_prefetch()),
                      "could not reach the FHIR server")


@pytest.mark.parametrize(("status", "words"), [(401, "HTTP 401"), (403, "HTTP 403"), (404, "HTTP 404"),
                                               (500, "HTTP 500")])
@responses.activate
def test_fhir_server_error_statuses(app_config, status, words):
    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=reply(status, body="{}"))
    assert_412_naming(quick_app(app_config).post("/cds-services/b12-status", json=no_prefetch()), words)


@responses.activate
def test_malformed_json_from_the_fhir_server(app_config):
    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=reply(body="{not json"))
    assert_412_naming(quick_app(app_config).post("/cds-services/b12-status", json=no_prefetch()), "malformed JSON")


@responses.activate
def test_the_wrong_resource_type_from_the_fhir_server(app_config):
    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=reply(body=json.dumps(PATIENT)))
    assert_412_naming(quick_app(app_config).post("/cds-services/b12-status", json=no_prefetch()),
                      "expected a Bundle")


@responses.activate
def test_a_server_slower_than_the_deadline_does_not_hold_the_worker(app_config):
    release = threading.Event()

    def hang(request):
        release.wait(10)  # stands for a server that never answers in time
        return 200, {}, json.dumps(searchset())

    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=hang)
    try:
        response = quick_app(app_config).post("/cds-services/b12-status", json=no_prefetch())
    finally:
        release.set()
    assert_412_naming(response, "deadline")


@responses.activate
def test_endless_pagination_is_cut_at_the_cap_and_the_call_still_answers(app_config):
    def endless(request):
        page = int(request.params.get("page", "0")) + 1
        body = PATIENT if "/Patient/" in request.url else searchset(next_url=f"{FHIR_BASE}/Observation?page={page}")
        return 200, {}, json.dumps(body)

    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=endless)
    response = create_app({**app_config, "FHIR_MAX_PAGES": 3}).test_client().post(
        "/cds-services/b12-status", json=no_prefetch())
    assert response.status_code == 200
    searches = 7 - 2  # every prefetch key but the Patient read and the two whose newest page suffices
    followed = [c for c in responses.calls if "page=" in c.request.url]
    assert len(followed) == searches * (3 - 1)  # first page + 2 next pages each, then it stops


@responses.activate
def test_optional_data_that_cannot_be_had_is_named_on_the_card(app_config):
    fixture = next(f for f in iter_fixture_calls() if f.test_id == "metformin_five_years_never_tested-b12-status")
    body = with_fhir_server(load_json(fixture.request_path))
    del body["prefetch"]["bloodCount"]
    responses.add(responses.GET, re.compile(f"{re.escape(FHIR_BASE)}/Observation.*"), status=500)
    app = create_app({**app_config, "CLOCK": lambda: fixture.evaluated_at})
    response = app.test_client().post("/cds-services/b12-status", json=body)
    assert response.status_code == 200
    [card] = response.get_json()["cards"]
    assert card["indicator"] == "info"
    assert "Not available from the EHR: blood count" in card["detail"]
