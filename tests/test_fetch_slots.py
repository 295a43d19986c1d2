"""The worker's fetch slots: a call's share is capped, and waiting fetches start earliest deadline first."""

from __future__ import annotations

import threading
import time

import pytest

from cds_service.data.fhir_client import FetchError
from cds_service.data.slots import CallSlots, FetchPool, SlotCount


def test_waiting_fetches_start_earliest_call_deadline_first():
    pool = FetchPool(max_workers=1)
    release, order = threading.Event(), []
    blocker = pool.submit(release.wait, 5)
    later = [pool.submit_by(deadline, order.append, deadline) for deadline in (30.0, 10.0, 20.0)]
    release.set()
    blocker.result(5)
    for future in later:
        future.result(5)
    assert order == [10.0, 20.0, 30.0]


def test_one_call_runs_at_most_its_share_and_the_rest_waits_in_its_own_queue():
    pool, count = FetchPool(max_workers=8), SlotCount()
    slots = CallSlots(pool, per_call=2, deadline=time.monotonic() + 10, count=count)
    lock, running, most = threading.Lock(), [0], [0]
    gate = threading.Barrier(2, timeout=5)

    def fetch(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait()  # two at a time meet here; a third would never be let in alongside
        with lock:
            running[0] -= 1
        return n

    futures = [slots.submit(fetch, n) for n in range(6)]
    assert [f.result(5) for f in futures] == list(range(6))
    assert most[0] == 2
    assert count.busy == 0


def test_a_fetch_whose_call_deadline_has_passed_never_starts():
    slots = CallSlots(FetchPool(max_workers=2), per_call=2, deadline=time.monotonic() - 1)
    called = []
    future = slots.submit(called.append, 1)
    with pytest.raises(FetchError, match="deadline"):
        future.result(5)
    assert called == []


def test_idle_fetch_threads_end_and_new_ones_start_when_needed(monkeypatch):
    monkeypatch.setattr("cds_service.data.slots.IDLE_SECONDS", 0.05)
    pool = FetchPool(max_workers=2)
    assert pool.submit(lambda: 1).result(5) == 1
    for _ in range(200):  # at most 10 s; ends as soon as the thread has gone
        if pool._threads == 0:
            break
        time.sleep(0.05)
    assert pool._threads == 0
    assert pool.submit(lambda: 2).result(5) == 2


def test_at_most_per_server_fetches_run_against_one_server_and_others_are_not_held_up():
    pool = FetchPool(max_workers=8, per_server=2)
    release = threading.Event()
    lock, running = threading.Lock(), {"slow": 0}
    most = [0]

    def slow_fetch() -> None:
        with lock:
            running["slow"] += 1
            most[0] = max(most[0], running["slow"])
        release.wait(5)
        with lock:
            running["slow"] -= 1

    slow = [pool.submit_by(1.0, slow_fetch, server="https://slow.example.org/fhir") for _ in range(5)]
    other = pool.submit_by(2.0, lambda: "answered", server="https://other.example.org/fhir")
    assert other.result(5) == "answered"  # while the slow server's fetches wait for it
    assert most[0] <= 2
    release.set()
    for future in slow:
        future.result(5)
    assert most[0] == 2
