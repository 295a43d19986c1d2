"""Warm-up before the fork: every service evaluated once in process, nothing counted, recorded or fetched."""

from __future__ import annotations

import gc
import json
import shutil
import threading

import pytest
import responses
from helpers import FIXED_NOW, FIXTURES

from cds_service import create_app
from cds_service.warmup import warm_up


@pytest.fixture
def runtime(tmp_path):
    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3",
                      "CLOCK": lambda: FIXED_NOW})
    yield app.extensions["b12cds"]
    gc.unfreeze()


@responses.activate  # any FHIR request would fail the test: none is registered
def test_every_service_is_evaluated_once_without_metrics_shown_cards_or_fetches(runtime):
    before = runtime.metrics.exposition()[0]
    assert warm_up(runtime, FIXTURES) == len(list(runtime.registry))
    assert runtime.metrics.exposition()[0] == before
    with runtime.store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM cds_cards_shown").scalar() == 0
    assert len(responses.calls) == 0
    assert gc.get_freeze_count() > 0


def test_a_broken_fixture_is_logged_and_start_up_goes_on(runtime, tmp_path, caplog):
    broken = tmp_path / "fixtures" / "broken"
    broken.mkdir(parents=True)
    (broken / "b12-status.request.json").write_text(json.dumps({"hook": "patient-view"}))
    shutil.copytree(FIXTURES / "deficient_with_neuropathy", tmp_path / "fixtures" / "zz_good")
    assert warm_up(runtime, tmp_path / "fixtures") == 2  # both folic-acid services from zz_good; b12-status broken
    assert "warm-up: b12-status could not be evaluated (broken)" in caplog.text


@responses.activate
def test_a_new_worker_warms_its_copy_without_counting_or_recording(tmp_path):
    from cds_service.warmup import warm_worker

    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path}/fb.sqlite3",
                      "CLOCK": lambda: FIXED_NOW})
    runtime = app.extensions["b12cds"]
    before = runtime.metrics.exposition()[0]
    try:
        assert warm_worker(app, FIXTURES) == len(list(runtime.registry))
    finally:
        gc.unfreeze()
    after = runtime.metrics.exposition()[0]
    assert _samples(after).items() >= _samples(before).items() and len(responses.calls) == 0
    assert {value for key, value in _samples(after).items() if key not in _samples(before)} == {0.0}  # none counted
    assert 'b12cds_hook_calls_total{service="b12-status",status="200"} 0.0' in after.decode()
    assert runtime.shown.flush()
    with runtime.store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM cds_cards_shown").scalar() == 0
    assert any(thread.name == "b12cds-shown-cards" for thread in threading.enumerate())  # the writer runs


def _samples(exposition: bytes) -> dict[str, float]:
    """Every sample of a Prometheus text exposition but the creation times: {name and labels: value}."""
    lines = (line.rsplit(" ", 1) for line in exposition.decode().splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in lines if "_created" not in name}


def test_a_gthread_workers_threads_are_started_before_it_serves():
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from cds_service.warmup import start_threads

    pool = ThreadPoolExecutor(max_workers=8)
    try:
        start_threads(SimpleNamespace(tpool=pool, cfg=SimpleNamespace(threads=8)))
        assert len(pool._threads) == 8  # all started, now idle: the first calls find a thread waiting
        assert pool.submit(lambda: 42).result(timeout=5) == 42
    finally:
        pool.shutdown(wait=True)
    start_threads(SimpleNamespace(cfg=SimpleNamespace(threads=1)))  # a sync worker: no pool, nothing to do
