"""Warm a process before it serves: one in-process evaluation per service, then freeze the heap.

``b12-cds serve`` calls :func:`warm_up` in the gunicorn master before it forks the workers, so every
worker starts with the modules imported, the pydantic validators built and the caches filled (copy on
write: the pages are shared, not copied), and a fresh worker's first call costs about what a warm one
does. The calls are fixture requests (``fhir_fixtures/<scenario>/<service-id>.request.json``) without
``fhirServer``: nothing is fetched, nothing is counted in the metrics, nothing is recorded as shown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from flask import Flask
from sqlalchemy import insert

from . import engine
from .data.observer import NoObserver
from .data.prefetch import resolve
from .feedback_store import cards_shown_table
from .protocol.request import parse_hook_call
from .protocol.response import CDSResponse, to_json
from .runtime import Runtime
from .shown_cards import shown_row

log = logging.getLogger("cds_service")
#: Request members that would make the warm-up call reach out to a FHIR server.
_REMOTE = ("fhirServer", "fhirAuthorization")


def warm_up(runtime: Runtime, fixtures: Path) -> int:
    """Evaluate one fixture call per service in process; return how many ran. Never raises.

    Then move every object alive to the garbage collector's permanent generation (``gc.freeze``): the
    collector no longer walks the start-up heap on every full collection, and a worker does not copy the
    master's pages by touching their object headers.
    """
    started = time.perf_counter()
    # Why a pool of its own, shut down before the fork: a worker must not inherit a pool whose threads
    # exist only in the master (nothing is fetched here, but the data layer may be handed the pool).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warm-up")
    settings = dataclasses.replace(runtime.fetch_settings, observer=NoObserver(), executor=pool)
    ran = 0
    cards: list[dict[str, Any]] = []
    for service in runtime.registry:
        request = next(iter(sorted(fixtures.glob(f"*/{service.id}.request.json"))), None)
        if request is None:
            continue
        try:
            cards += _evaluate(runtime, service, settings, json.loads(request.read_text(encoding="utf-8")))
            ran += 1
        except Exception:  # a warm-up is an optimisation: it never stops the service
            log.warning("warm-up: %s could not be evaluated (%s); its first call will be slower",
                        service.id, request.parent.name, exc_info=True)
    pool.shutdown(wait=True)
    _compile_shown_cards_insert(runtime, cards)
    gc.collect()
    gc.freeze()
    log.info("warm-up: %d services evaluated in %.0f ms", ran, (time.perf_counter() - started) * 1000)
    return ran


def warm_worker(app: Flask, fixtures: Path) -> int:
    """In a new gunicorn worker, before it serves: the same calls again, and a request context routed by Flask.

    Why again: the master's warmed pages are shared with the worker copy on write, and a call writes to many
    of them (reference counts, caches), so the worker's first call paid for copying them (a fresh worker's
    first call was 3.8 x a warm one). Done here, the copying happens at boot; the shown-cards writer starts
    too, and the worker's metric files are opened (``Metrics.prepare``). Nothing is counted or recorded.
    """
    from .api import WARM_UP_REQUEST

    runtime = app.extensions["b12cds"]
    ran = warm_up(runtime, fixtures)
    # One request through Flask's whole dispatch (routing, the before and after hooks, CORS, the response): a
    # fresh worker's first request paid for Flask's first-use work, about half a no-op app's first call.
    app.test_client().get("/healthz", environ_base={WARM_UP_REQUEST: True})
    if runtime.shown is not None:
        runtime.shown.start()
    runtime.metrics.prepare()
    return ran


def start_threads(worker: Any) -> None:
    """gunicorn's ``post_worker_init``: start every thread of a gthread worker's pool before it serves.

    Why: the pool starts a thread at each call that finds none idle, so a fresh worker's first calls each
    waited for one (1.8 ms of a no-op app's 6.5 ms first call, measured side by side). Each thread waits at a
    barrier until all have started, then goes idle in the pool; a sync worker has no pool.
    """
    pool = getattr(worker, "tpool", None)
    threads = int(getattr(worker.cfg, "threads", 1))
    if pool is None or threads < 2:
        return
    started = threading.Barrier(threads + 1)
    for _ in range(threads):
        pool.submit(_wait_at, started)
    _wait_at(started)


def _wait_at(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):  # a thread that never came: serve all the same
        barrier.wait(timeout=2.0)


def _evaluate(runtime: Runtime, service: Any, settings: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    body = {key: value for key, value in body.items() if key not in _REMOTE}
    call = parse_hook_call(body, service.hook, runtime.limits)
    data = resolve(service, call, settings)
    cards = engine.evaluate(service, call, data, today=runtime.today(), new_uuid=lambda: str(uuid.uuid4()))
    answer = to_json(CDSResponse(cards=cards))
    orjson.dumps(answer)
    return answer["cards"]


def _compile_shown_cards_insert(runtime: Runtime, cards: list[dict[str, Any]]) -> None:
    """Insert the warm-up's cards as shown cards and roll back: SQLAlchemy compiles the statement once
    per engine (kept across the workers' ``dispose``), so a worker's first call does not (about 20 ms)."""
    if runtime.shown is None or not cards:
        return
    rows = [shown_row("warm-up", str(uuid.uuid4()), card, runtime.clock()) for card in cards[:1]]
    try:
        with runtime.store.engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(insert(cards_shown_table), rows)
            transaction.rollback()
    except Exception:  # the database may be down at start-up: /readyz says so, the service still starts
        log.warning("warm-up: the shown-cards insert could not be prepared", exc_info=True)
