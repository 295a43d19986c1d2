"""One structured line per call; never patient identifiers, tokens or prefetch data unless asked."""

from __future__ import annotations

import json
import logging

import pytest
from fixture_tools import iter_fixture_calls
from helpers import TOKEN, load_json, patient_view_request, with_fhir_server

from cds_service import create_app
from cds_service.logs import JsonFormatter

FIXTURE = next(f for f in iter_fixture_calls() if f.test_id == "deficient_with_neuropathy-b12-status")


def call_lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "cds_service.calls"]


def everything_logged(caplog) -> str:
    formatter = JsonFormatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


def test_a_hook_call_gives_one_json_line_with_what_operators_need(client, caplog):
    caplog.set_level(logging.INFO)
    request = load_json(FIXTURE.request_path)
    assert client.post("/cds-services/b12-status", json=request).status_code == 200
    [line] = call_lines(caplog)
    assert line["event"] == "hook-call"
    assert line["service"] == "b12-status"
    assert line["status"] == 200
    assert line["hookInstance"] == request["hookInstance"]
    assert line["cardCount"] == 1
    assert line["indicators"] == ["critical"]
    assert line["cardKinds"] == ["deficient_neuro"]
    assert line["cardRules"] == ["deficient neuro: B12-RULES.md §5 patient-view row 1"]
    assert isinstance(line["latencyMs"], float)
    assert "cards" not in line


def test_no_patient_identifier_token_or_prefetch_content_is_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    request = with_fhir_server(load_json(FIXTURE.request_path))
    client.post("/cds-services/b12-status", json=request)
    logged = everything_logged(caplog)
    patient_id = request["context"]["patientId"]
    assert patient_id not in logged
    assert TOKEN not in logged
    assert "148" not in logged  # the B12 value in the prefetch
    assert "Peripheral neuropathy" not in logged


def test_card_summaries_are_logged_only_when_card_logging_is_on(app_config, caplog):
    caplog.set_level(logging.INFO)
    client = create_app({**app_config, "LOG_CARDS": True}).test_client()
    client.post("/cds-services/b12-status", json=load_json(FIXTURE.request_path))
    [line] = call_lines(caplog)
    assert line["cards"][0]["summary"].startswith("B12 deficiency with neuropathy")


@pytest.mark.parametrize(("body", "status"), [(patient_view_request(), 412), ({"hook": "x"}, 400)])
def test_failed_calls_are_logged_with_their_status(client, caplog, body, status):
    caplog.set_level(logging.INFO)
    assert client.post("/cds-services/b12-status", json=body).status_code == status
    [line] = call_lines(caplog)
    assert line["status"] == status
    assert "cardCount" not in line


def test_feedback_calls_log_what_was_stored(client, caplog):
    caplog.set_level(logging.INFO)
    item = {"card": "8f0e8b1c-2b7a-4f5e-9c1d-0a3b5c7d9e11", "outcome": "accepted",
            "acceptedSuggestions": [{"id": "s1"}], "outcomeTimestamp": "2026-09-01T09:05:00Z"}
    client.post("/cds-services/b12-status/feedback", json={"feedback": [item]})
    [line] = call_lines(caplog)
    assert (line["event"], line["feedbackStored"], line["feedbackDuplicates"]) == ("feedback", 1, 0)


def test_the_formatter_writes_one_json_object_per_line():
    record = logging.LogRecord("cds_service.calls", logging.INFO, __file__, 1, "hook-call %s", ("x",), None)
    record.fields = {"status": 200}
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["status"] == 200
    assert json.loads(line)["message"] == "hook-call x"
