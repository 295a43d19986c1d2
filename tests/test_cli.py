"""The b12-cds console command."""

from __future__ import annotations

import json

from click.testing import CliRunner
from helpers import FIXTURES as FIXTURES_DIR
from test_access_log import SERVICE_FORMAT

from cds_service import cli
from cds_service.access_log import AccessLogger


def test_serve_runs_gunicorn_with_the_configured_workers_and_threads(monkeypatch, tmp_path):
    started = {}

    class FakeGunicorn:
        def __init__(self, app, options):
            started.update(app=app, options=options)

        def run(self):
            started["ran"] = True

    monkeypatch.setattr(cli, "_Gunicorn", FakeGunicorn)
    # serve sets this for the gunicorn workers; monkeypatch restores it so later tests are unaffected
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3"}
    result = CliRunner().invoke(cli.main, ["serve", "--port", "9999", "--workers", "3", "--threads", "4"], env=env)
    assert result.exit_code == 0, result.output
    assert started["ran"]
    options = started["options"]
    assert (options["bind"], options["workers"], options["threads"]) == ("127.0.0.1:9999", 3, 4)
    # gthread, listening for new connections only while a thread is free (cds_service/workers.py)
    assert options["worker_class"] == "cds_service.workers.FreeThreadWorker"
    assert "%(q)s" not in options["access_log_format"]  # query strings may name patients: never logged
    assert options["access_log_format"] == SERVICE_FORMAT  # the format test_access_log.py checks line by line
    assert options["logger_class"] is AccessLogger


def test_serve_takes_the_worker_class_and_connections_per_worker_from_the_environment(monkeypatch, tmp_path):
    started = {}
    monkeypatch.setattr(cli, "_Gunicorn", lambda app, options: started.update(options) or type(
        "Fake", (), {"run": lambda self: None})())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    env = {"CDS_AUTH_REQUIRED": "false", "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3",
           "CDS_WORKER_CLASS": "sync", "CDS_WORKER_CONNECTIONS": "8"}
    result = CliRunner().invoke(cli.main, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert (started["worker_class"], started["worker_connections"]) == ("sync", 8)


def test_serve_refuses_to_start_with_a_clear_message_when_misconfigured(tmp_path):
    result = CliRunner().invoke(cli.main, ["serve"], env={"CDS_AUTH_REQUIRED": "true"})
    assert result.exit_code != 0
    assert "PUBLIC_BASE_URL" in result.output


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output




def test_evaluate_prints_the_cards_as_a_clinician_reads_them():
    chart = FIXTURES_DIR / "deficient_with_neuropathy" / "chart.json"
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "patient-view", str(chart), "--date", "2026-09-01"])
    assert result.exit_code == 0, result.output
    assert "b12-status (patient-view) for Patient/dwn-patient, as of 2026-09-01" in result.output
    assert "!!! CRITICAL: B12 deficiency with neuropathy" in result.output
    assert "Serum B12 148 ng/L on 2026-08-18 (below 180 ng/L)" in result.output
    assert "(recommended)" in result.output
    assert "**" not in result.output  # markdown emphasis is rendered, not shown raw


def test_evaluate_json_is_the_raw_cds_hooks_response():
    chart = FIXTURES_DIR / "healthy_young_adult_nothing" / "chart.json"
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "patient-view", str(chart), "--json",
                                           "--date", "2026-09-01"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"cards": []}


def test_evaluate_an_order_hook_with_draft_orders_from_a_file(tmp_path):
    scenario = FIXTURES_DIR / "folic_acid_ordered_b12_deficient"
    call = next(c for c in json.loads((scenario / "scenario.json").read_text())["calls"]
                if c["hook"] == "order-sign")
    drafts = tmp_path / "drafts.json"
    drafts.write_text(json.dumps(call["draftOrders"]))
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "order-sign", str(scenario / "chart.json"),
                                           "--draft-orders", str(drafts), "--date", "2026-09-01"])
    assert result.exit_code == 0, result.output
    assert "!!! CRITICAL: Folic acid with untreated B12 deficiency" in result.output
    assert "delete MedicationRequest/fad-draft-fa" in result.output


def test_evaluate_takes_the_draft_orders_of_a_hook_request_file_as_fire_does():
    scenario = FIXTURES_DIR / "folic_acid_ordered_b12_deficient"
    request = scenario / "folic-acid-safety-sign.request.json"
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "order-sign", str(scenario / "chart.json"),
                                           "--draft-orders", str(request), "--date", "2026-09-01", "--json"])
    assert result.exit_code == 0, result.output
    golden = json.loads((scenario / "folic-acid-safety-sign.response.json").read_text())
    assert [c["summary"] for c in json.loads(result.output)["cards"]] == [c["summary"] for c in golden["cards"]]


def test_evaluate_takes_a_single_draft_order_file(tmp_path):
    scenario = FIXTURES_DIR / "folic_acid_ordered_b12_deficient"
    request = json.loads((scenario / "folic-acid-safety-sign.request.json").read_text())
    [order] = [e["resource"] for e in request["context"]["draftOrders"]["entry"]]
    (tmp_path / "order.json").write_text(json.dumps(order))
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "order-sign", str(scenario / "chart.json"),
                                           "--draft-orders", str(tmp_path / "order.json"), "--date", "2026-09-01"])
    assert result.exit_code == 0, result.output
    assert "!!! CRITICAL: Folic acid with untreated B12 deficiency" in result.output


def test_evaluate_says_when_an_order_hook_has_no_draft_orders_and_what_to_pass():
    chart = FIXTURES_DIR / "healthy_young_adult_nothing" / "chart.json"
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "order-sign", str(chart), "--date", "2026-09-01"])
    assert result.exit_code == 1
    assert "order-sign: no draft orders found in" in result.output
    assert "pass --draft-orders FILE (a draft order (a FHIR resource), a Bundle of them" in result.output
    assert "silence is a feature" not in result.output


def test_evaluate_refuses_an_order_file_without_orders(tmp_path):
    chart = FIXTURES_DIR / "healthy_young_adult_nothing" / "chart.json"
    (tmp_path / "empty.json").write_text('{"resourceType": "Bundle", "type": "collection"}')
    (tmp_path / "odd.json").write_text('{"orders": []}')
    empty = CliRunner().invoke(cli.main, ["evaluate", "--hook", "order-select", str(chart),
                                          "--draft-orders", str(tmp_path / "empty.json")])
    assert empty.exit_code == 1 and f"no draft orders found in {tmp_path / 'empty.json'}" in empty.output
    odd = CliRunner().invoke(cli.main, ["evaluate", "--hook", "order-select", str(chart),
                                        "--draft-orders", str(tmp_path / "odd.json")])
    assert odd.exit_code == 1 and f"{tmp_path / 'odd.json'}: an order file must hold a draft order" in odd.output


def test_evaluate_refuses_draft_orders_for_patient_view(tmp_path):
    chart = FIXTURES_DIR / "healthy_young_adult_nothing" / "chart.json"
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "patient-view", str(chart),
                                           "--draft-orders", str(chart)])
    assert result.exit_code == 2
    assert "--draft-orders goes with order-select or order-sign, not patient-view" in result.output


def test_evaluate_says_when_nothing_is_to_be_done():
    chart = FIXTURES_DIR / "healthy_young_adult_nothing" / "chart.json"
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "patient-view", str(chart), "--date", "2026-09-01"])
    assert "No cards: nothing to do for this patient" in result.output


def test_evaluate_refuses_a_file_that_is_not_a_bundle(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"resourceType": "Patient"}')
    result = CliRunner().invoke(cli.main, ["evaluate", "--hook", "patient-view", str(bad)])
    assert result.exit_code != 0
    assert "expected a FHIR Bundle" in result.output
