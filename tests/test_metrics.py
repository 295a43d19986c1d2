"""GET /metrics: exact counts per app, labels from fixed sets only, and one total across gunicorn workers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import jwt
import pytest
import requests
import responses
from builders.fhir import patient
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec
from fhir_server import free_port
from helpers import (
    FHIR_BASE,
    FIXTURES,
    TOKEN,
    load_json,
    patient_view_request,
    searchset,
    service_definition,
    with_fhir_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from cds_service import cli, create_app

FIXTURE_REQUEST = FIXTURES / "deficient_with_neuropathy" / "b12-status.request.json"
ANY_FHIR_URL = re.compile(f"{re.escape(FHIR_BASE)}/.*")
PATIENT_ID = "patient-7f3a9c"
PATIENT = patient("female", "1950-05-01", id=PATIENT_ID)
#: b12-status fetches these when nothing is prefetched: one request per prefetch template, by resource type.
FETCHES = Counter(re.split(r"[/?]", template, maxsplit=1)[0]
                  for template in service_definition("b12-status").prefetch.values())


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """GET /metrics and return every sample by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels: str) -> float:
    """Sum the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, have), v in samples.items() if n == name and set(labels.items()) <= have)


def test_hook_calls_are_counted_by_service_and_status(client):
    for _ in range(3):
        assert client.post("/cds-services/b12-status", json=load_json(FIXTURE_REQUEST)).status_code == 200
    assert client.post("/cds-services/b12-status", json=patient_view_request()).status_code == 412
    assert client.post("/cds-services/no-such-service", json=patient_view_request()).status_code == 404
    samples = scrape(client)
    assert value(samples, "b12cds_hook_calls_total", service="b12-status", status="200") == 3
    assert value(samples, "b12cds_hook_calls_total", service="b12-status", status="412") == 1
    assert value(samples, "b12cds_hook_calls_total", service="other", status="404") == 1
    assert value(samples, "b12cds_hook_call_duration_seconds_count", service="b12-status") == 4
    assert value(samples, "b12cds_cards_total", service="b12-status", indicator="critical",
                 kind="deficient_neuro") == 3
    assert total(samples, "b12cds_cards_total") == 3


def test_every_request_is_counted_by_route_name_never_by_path(client):
    client.get("/healthz")
    client.get("/no/such/path/pat-secret")
    client.open("/healthz", method="BREW")
    samples = scrape(client)
    assert value(samples, "b12cds_http_requests_total", endpoint="cds.healthz", method="GET", status="200") == 1
    assert value(samples, "b12cds_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert value(samples, "b12cds_http_requests_total", endpoint="unmatched", method="other", status="405") == 1
    assert "pat-secret" not in client.get("/metrics").get_data(as_text=True)


def reply(status: int, body: str = "{}"):
    return lambda request: (status, {"Content-Type": "application/fhir+json"}, body)


def fail(error: Exception):
    return lambda request: error  # responses raises an exception a callback returns


ERROR_IN_SEARCH = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
    "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}}]})
FAILURES = {
    "connection": fail(requests.exceptions.ConnectionError("refused")),
    "timeout": fail(requests.exceptions.ReadTimeout("slow")),
    "http_401": reply(401),
    "http_403": reply(403),
    "http_4xx": reply(429),
    "http_5xx": reply(503),
    "redirect": reply(302),
    "invalid_body": reply(200, "{not json"),
    "too_large": reply(200, json.dumps(searchset(*[PATIENT] * 20))),  # over FHIR_MAX_RESPONSE_BYTES below
    "search_error": reply(200, ERROR_IN_SEARCH),
}


@pytest.mark.parametrize("reason", FAILURES)
@responses.activate
def test_fhir_fetch_failures_are_counted_by_resource_type_and_reason(app_config, reason):
    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=FAILURES[reason])
    client = create_app({**app_config, "FHIR_MAX_RESPONSE_BYTES": 1000}).test_client()
    body = with_fhir_server(patient_view_request(PATIENT_ID))
    assert client.post("/cds-services/b12-status", json=body).status_code == 412
    samples = scrape(client)
    for resource_type, count in FETCHES.items():
        if resource_type == "Patient" and reason == "search_error":
            continue  # the Patient read got a Bundle: invalid_body
        assert value(samples, "b12cds_fhir_fetch_failures_total", resource_type=resource_type, reason=reason) == count
        assert value(samples, "b12cds_fhir_fetch_duration_seconds_count", resource_type=resource_type) == count
    assert total(samples, "b12cds_fhir_fetch_failures_total") == sum(FETCHES.values())


@responses.activate
def test_a_missing_resource_is_no_failure_but_a_missing_search_is(client):
    responses.add_callback(responses.GET, ANY_FHIR_URL, callback=reply(404))
    client.post("/cds-services/b12-status", json=with_fhir_server(patient_view_request(PATIENT_ID)))
    samples = scrape(client)
    assert total(samples, "b12cds_fhir_fetch_failures_total", resource_type="Patient") == 0  # read: no such patient
    assert value(samples, "b12cds_fhir_fetch_failures_total", resource_type="Observation", reason="http_4xx") == 3


@responses.activate
def test_prefetch_keys_are_counted_as_provided_fetched_or_failed(client):
    responses.get(f"{FHIR_BASE}/Observation", status=500)  # bloodCount (optional) cannot be had
    for resource_type in ("MedicationRequest", "Condition", "Procedure"):
        responses.get(f"{FHIR_BASE}/{resource_type}", json=searchset())
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    prefetch = {"patient": PATIENT, "b12Labs": searchset(), "renalFunction": searchset(),
                "medicationStatements": None, "medicationRequests": failed}  # conditions, procedures: absent
    body = with_fhir_server(patient_view_request(PATIENT_ID, prefetch=prefetch))
    assert client.post("/cds-services/b12-status", json=body).status_code == 200
    samples = scrape(client)
    assert value(samples, "b12cds_prefetch_keys_total", service="b12-status", source="provided") == 4
    assert value(samples, "b12cds_prefetch_keys_total", service="b12-status", source="fetched") == 3
    assert value(samples, "b12cds_prefetch_keys_total", service="b12-status", source="failed") == 1
    assert value(samples, "b12cds_fhir_fetch_failures_total", resource_type="Observation", reason="http_5xx") == 1


def feedback_item(outcome: str) -> dict:
    item = {"card": "8f0e8b1c-2b7a-4f5e-9c1d-0a3b5c7d9e11", "outcome": outcome,
            "outcomeTimestamp": "2026-09-01T09:05:00Z"}
    if outcome == "accepted":
        item["acceptedSuggestions"] = [{"id": "sugg-1"}]
    return item


def test_feedback_is_counted_by_outcome_and_by_stored_or_duplicate(client):
    both = {"feedback": [feedback_item("accepted"), feedback_item("overridden")]}
    assert client.post("/cds-services/b12-status/feedback", json=both).get_json() == {"stored": 2, "duplicates": 0}
    again = {"feedback": [feedback_item("accepted")]}
    assert client.post("/cds-services/b12-status/feedback", json=again).get_json() == {"stored": 0, "duplicates": 1}
    samples = scrape(client)
    assert value(samples, "b12cds_feedback_total", service="b12-status", outcome="accepted") == 2
    assert value(samples, "b12cds_feedback_total", service="b12-status", outcome="overridden") == 1
    assert value(samples, "b12cds_feedback_writes_total", service="b12-status", result="stored") == 2
    assert value(samples, "b12cds_feedback_writes_total", service="b12-status", result="duplicate") == 1


def test_metrics_need_no_jwt_even_when_authentication_is_required(app_config, tmp_path):
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    secured = create_app({**app_config, "AUTH_REQUIRED": True, "PUBLIC_BASE_URL": "https://cds.example.org",
                          "TRUSTED_ISSUERS": {"https://ehr.example.org": {"jwks_file": str(tmp_path / "jwks.json")}}})
    client = secured.test_client()
    assert client.get("/cds-services").status_code == 401
    assert value(scrape(client), "b12cds_http_requests_total", endpoint="cds.discovery", method="GET",
                 status="401") == 1


@responses.activate
def test_no_label_holds_a_patient_id_a_token_a_url_or_an_unknown_service_id(client):
    responses.add(responses.GET, ANY_FHIR_URL, status=500)
    request = with_fhir_server(patient_view_request(PATIENT_ID))
    client.post("/cds-services/b12-status", json=request)
    client.post("/cds-services/b12-status", json=with_fhir_server(load_json(FIXTURE_REQUEST)))
    client.post("/cds-services/patient-7f3a9c-service", json=request)
    client.post("/cds-services/b12-status/feedback", json={"feedback": [feedback_item("overridden")]})
    text = client.get("/metrics").get_data(as_text=True)
    assert "b12cds_fhir_fetch_failures_total" in text and "b12cds_cards_total" in text
    for secret in (PATIENT_ID, "dwn-patient", TOKEN, "ehr.example.org", "https:", request["hookInstance"]):
        assert secret not in text


def test_metrics_can_be_switched_off(app_config):
    client = create_app({**app_config, "METRICS_ENABLED": False}).test_client()
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_each_app_counts_in_a_registry_of_its_own(app_config):
    first, second = create_app(app_config).test_client(), create_app(app_config).test_client()
    first.get("/healthz")
    assert value(scrape(first), "b12cds_http_requests_total", endpoint="cds.healthz", method="GET", status="200") == 1
    assert total(scrape(second), "b12cds_http_requests_total", endpoint="cds.healthz") == 0


GUNICORN_OPTIONS: dict = {}


class FakeGunicorn:
    """Stands for gunicorn: keeps the options instead of serving."""

    def __init__(self, app, options) -> None:
        GUNICORN_OPTIONS.clear()
        GUNICORN_OPTIONS.update(options)

    def run(self) -> None:
        pass


def test_serve_wipes_the_workers_metrics_directory_and_marks_dead_workers(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_Gunicorn", FakeGunicorn)
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_12345.db").write_bytes(b"an earlier run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))  # and restored after the test, whatever serve sets
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3"}
    result = CliRunner().invoke(cli.main, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert list(given.iterdir()) == []  # stale counts wiped before the workers start
    assert callable(GUNICORN_OPTIONS["child_exit"])


def test_serve_deletes_only_prometheus_files_in_the_metrics_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_Gunicorn", FakeGunicorn)
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in ("counter_1.db", "histogram_1.db", "gauge_livesum_1.db", "feedback.db", "notes.txt"):
        (shared / name).write_bytes(b"x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3"}
    assert CliRunner().invoke(cli.main, ["serve"], env=env).exit_code == 0
    assert sorted(path.name for path in shared.iterdir()) == ["feedback.db", "notes.txt"]  # an operator's files


def test_serve_refuses_an_unusable_metrics_directory_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_Gunicorn", FakeGunicorn)
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "a-file" / "metrics"))
    result = CliRunner().invoke(cli.main, ["serve"], env={"CDS_AUTH_REQUIRED": "false"})
    assert result.exit_code == 1
    assert f"Error: PROMETHEUS_MULTIPROC_DIR {tmp_path / 'a-file' / 'metrics'}:" in result.output
    assert "Traceback" not in result.output


def test_dev_mode_counts_in_memory_whatever_the_environment_says(monkeypatch, tmp_path):
    ran = {}
    monkeypatch.setattr("flask.Flask.run", lambda app, **options: ran.update(app=app))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))  # as in the container image
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3"}
    assert CliRunner().invoke(cli.main, ["serve", "--dev"], env=env).exit_code == 0
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with ran["app"].test_client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


class BrokenSeries:
    """A metric whose storage fails, as an unwritable PROMETHEUS_MULTIPROC_DIR makes it fail."""

    def labels(self, *values):
        raise OSError(28, "No space left on device")


def test_a_metric_that_cannot_be_written_never_fails_a_hook_call(app, client, caplog):
    metrics = app.extensions["b12cds"].metrics
    for name in ("http_requests", "hook_calls", "hook_call_duration", "cards", "prefetch_keys"):
        setattr(metrics, name, BrokenSeries())
    for _ in range(2):
        response = client.post("/cds-services/b12-status", json=load_json(FIXTURE_REQUEST))
        assert response.status_code == 200
        assert [card["indicator"] for card in response.get_json()["cards"]] == ["critical"]
    assert client.get("/healthz").status_code == 200
    failures = [r for r in caplog.records if "metrics:" in r.getMessage()]
    assert {r.getMessage().split()[1] for r in failures} == {"http_request", "hook_call", "prefetch_key"}
    assert len(failures) == 3  # each logged once, not once per call


def test_a_fetch_is_not_failed_by_a_failing_observer():
    from cds_service.data.observer import observed

    class Exploding:
        def fhir_fetch(self, *args):
            raise OSError("disk full")

    assert observed(Exploding(), "Patient/1", lambda: {"resourceType": "Patient"}) == {"resourceType": "Patient"}


def test_metrics_that_cannot_be_read_are_a_503_operation_outcome(app, client, monkeypatch):
    def unreadable():
        raise OSError("gone")

    monkeypatch.setattr(app.extensions["b12cds"].metrics, "exposition", unreadable)
    response = client.get("/metrics")
    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_browsers_may_call_the_api_but_not_read_the_metrics(client):
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    assert client.get("/cds-services", headers=origin).headers["Access-Control-Allow-Origin"]
    assert "Access-Control-Allow-Origin" not in client.get("/metrics", headers=origin).headers


def test_serve_makes_a_metrics_directory_when_none_is_given(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "_Gunicorn", FakeGunicorn)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # empty: as good as unset
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3"}
    assert CliRunner().invoke(cli.main, ["serve"], env=env).exit_code == 0
    created = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert created.is_dir() and created.name.startswith("b12cds-metrics-")
    shutil.rmtree(created)  # serve removes it when its process exits


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a text exposition, by name and labels."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def workers_that_answered_hook_calls(directory: Path) -> int:
    """Count the workers whose counter file holds hook calls (each worker writes files named by its pid)."""
    answered = 0
    for path in directory.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])
        answered += any(s.value for f in families if f.name == "b12cds_hook_calls" for s in f.samples)
    return answered


def test_gunicorn_workers_add_up_to_one_total_whichever_worker_is_scraped(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    base = f"http://127.0.0.1:{free_port()}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update({"CDS_AUTH_REQUIRED": "false", "CDS_LOG_LEVEL": "WARNING", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}"})
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen([str(Path(sys.executable).with_name("b12-cds")), "serve", "--workers", "2",
                                   "--port", base.rsplit(":", 1)[1]], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until_up(base, server, log)
        calls = 0
        # A new connection per call; the kernel picks the worker, so go on until both have answered some.
        while calls < 20 or (workers_that_answered_hook_calls(metrics_dir) < 2 and calls < 500):
            request = urllib.request.Request(f"{base}/cds-services/b12-status", data=FIXTURE_REQUEST.read_bytes(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
            calls += 1
        assert workers_that_answered_hook_calls(metrics_dir) == 2
        for _ in range(10):
            with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
                samples = parse(response.read().decode())
            assert value(samples, "b12cds_hook_calls_total", service="b12-status", status="200") == calls
            assert value(samples, "b12cds_hook_call_duration_seconds_count", service="b12-status") == calls
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_up(base: str, server: subprocess.Popen, log: Path) -> None:
    """Poll /healthz until the server answers (a guard against a server that never starts, not a speed test)."""
    for _ in range(600):
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"b12-cds serve did not answer:\n{log.read_text()[-3000:]}")
