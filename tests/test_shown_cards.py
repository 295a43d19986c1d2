"""Every card a hook call returns is recorded (no patient data), and recording never fails a call."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time

import requests
from helpers import FIXED_NOW, FIXTURES, load_json
from live_service import running_service, service_config
from sqlalchemy import event, select, text

from cds_service.feedback_store import cards_shown_table

SCENARIO = FIXTURES / "folic_acid_ordered_b12_deficient"


def shown_rows(app) -> list[dict]:
    assert app.extensions["b12cds"].shown.flush()  # written by a thread of the worker: wait for it
    with app.extensions["b12cds"].store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(cards_shown_table))]


def test_the_cards_of_a_call_are_recorded_without_patient_data(client, app):
    request = load_json(SCENARIO / "folic-acid-safety-select.request.json")
    response = client.post("/cds-services/folic-acid-safety-select", json=request)
    assert response.status_code == 200
    [card] = response.get_json()["cards"]
    assert shown_rows(app) == []  # written once the response has been sent (the server closes it)
    response.close()
    [row] = shown_rows(app)
    assert row["hook_instance"] == request["hookInstance"]
    assert (row["service_id"], row["card_uuid"], row["kind"], row["indicator"], row["suppressed"]) == (
        "folic-acid-safety-select", card["uuid"], "folate_deficient", "critical", False)
    assert row["shown_time"].replace(tzinfo=FIXED_NOW.tzinfo) == FIXED_NOW
    assert json.loads(row["suggestions"]) == {s["uuid"]: s["label"] for s in card["suggestions"]}
    stored = json.dumps({key: str(value) for key, value in row.items()})
    assert "fad-patient" not in stored and "fad-draft" not in stored


def test_a_call_without_cards_records_nothing(client, app):
    request = load_json(FIXTURES / "healthy_young_adult_nothing" / "b12-status.request.json")
    response = client.post("/cds-services/b12-status", json=request)
    assert response.get_json() == {"cards": []}
    response.close()
    assert shown_rows(app) == []


def test_a_database_that_cannot_be_written_never_fails_the_call(client, app, caplog):
    with app.extensions["b12cds"].store.engine.begin() as connection:
        connection.execute(text("DROP TABLE cds_cards_shown"))
    request = load_json(SCENARIO / "folic-acid-safety-sign.request.json")
    with caplog.at_level(logging.WARNING, logger="cds_service.shown_cards"):
        for _ in range(3):
            response = client.post("/cds-services/folic-acid-safety-sign", json=request)
            assert response.status_code == 200 and len(response.get_json()["cards"]) == 1
            response.close()
        app.extensions["b12cds"].shown.flush()  # the worker's writer thread logs the failure
    warnings = [r for r in caplog.records if r.name == "cds_service.shown_cards"]
    assert len(warnings) == 1 and "logged once" in warnings[0].getMessage()


def test_a_sqlite_file_commits_in_its_write_ahead_log(tmp_path):
    from cds_service.feedback_store import FeedbackStore

    store = FeedbackStore.from_url(f"sqlite:///{tmp_path}/fb.sqlite3")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_a_real_server_writes_the_row_after_sending_the_cards(tmp_path):
    request = load_json(SCENARIO / "folic-acid-safety-sign.request.json")
    with running_service(service_config(tmp_path, FIXED_NOW, [])) as live:
        response = requests.post(f"{live.url}/cds-services/folic-acid-safety-sign", json=request, timeout=30)
        [card] = response.json()["cards"]
        for _ in range(200):  # the server closes the response just after sending it; wait for the row
            rows = shown_rows(live.app)
            if rows:
                break
            time.sleep(0.05)
    assert [row["card_uuid"] for row in rows] == [card["uuid"]]


def test_a_worker_writes_the_cards_of_many_calls_in_one_transaction(tmp_path):
    from cds_service.feedback_store import FeedbackStore
    from cds_service.shown_cards import ShownCards

    store = FeedbackStore.from_url(f"sqlite:///{tmp_path}/fb.sqlite3")
    shown, transactions = ShownCards(store.engine, background=True), []
    event.listen(store.engine, "commit", lambda _connection: transactions.append(1))
    release = threading.Event()
    event.listen(store.engine, "begin", lambda _connection: release.wait(10))  # the writer waits at its first
    for number in range(5):
        shown.record("b12-status", f"hook-{number}", [{"uuid": f"card-{number}", "indicator": "info"}], FIXED_NOW)
    release.set()
    assert shown.flush()
    assert len(shown_rows_of(store)) == 5 and 1 <= len(transactions) <= 2  # the first call's, then the four queued


def test_cards_beyond_the_queue_are_dropped_and_logged_once(tmp_path, caplog):
    from cds_service.feedback_store import FeedbackStore
    from cds_service.shown_cards import ShownCards

    store = FeedbackStore.from_url(f"sqlite:///{tmp_path}/fb.sqlite3")
    shown, release = ShownCards(store.engine, background=True, max_queued=2), threading.Event()
    event.listen(store.engine, "begin", lambda _connection: release.wait(10))
    with caplog.at_level(logging.WARNING, logger="cds_service.shown_cards"):
        for number in range(6):  # the writer holds one; two wait; the rest overflow
            shown.record("b12-status", f"hook-{number}", [{"uuid": f"card-{number}"}], FIXED_NOW)
            time.sleep(0.05)
        release.set()
        assert shown.flush()
    warnings = [r for r in caplog.records if r.name == "cds_service.shown_cards"]
    assert len(warnings) == 1 and "logged once" in warnings[0].getMessage()
    assert 1 <= len(shown_rows_of(store)) < 6


def test_queued_cards_are_written_before_the_process_exits(tmp_path):
    url = f"sqlite:///{tmp_path}/fb.sqlite3"
    program = (
        "from datetime import UTC, datetime\n"
        "from cds_service.feedback_store import FeedbackStore\n"
        "from cds_service.shown_cards import ShownCards\n"
        f"shown = ShownCards(FeedbackStore.from_url({url!r}).engine, background=True)\n"
        "for n in range(50):\n"
        "    shown.record('b12-status', f'hook-{n}', [{'uuid': f'card-{n}'}], datetime.now(UTC))\n"
    )  # and exits at once, without a flush of its own
    subprocess.run([sys.executable, "-c", program], check=True, timeout=120)
    from cds_service.feedback_store import FeedbackStore

    assert len(shown_rows_of(FeedbackStore.from_url(url))) == 50


def shown_rows_of(store) -> list[dict]:
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(cards_shown_table))]
