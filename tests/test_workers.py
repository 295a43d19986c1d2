"""The gthread worker of ``b12-cds serve`` (cds_service/workers.py), run by gunicorn on loopback.

A worker listens for new connections only while one of its threads is free: new connections go to a worker that
can serve them now, and idle keep-alive connections never stop a worker from taking new ones.
"""

from __future__ import annotations

import http.client
import inspect
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from gunicorn.workers.gthread import ThreadWorker

from cds_service.workers import FreeThreadWorker

HERE = Path(__file__).resolve().parent


@contextmanager
def gunicorn(workers: int, threads: int, *extra: str) -> Iterator[int]:
    """tests/pid_app.py under gunicorn with FreeThreadWorker on a free loopback port; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--threads", str(threads), "--worker-class", "cds_service.workers.FreeThreadWorker", *extra,
             "--chdir", str(HERE), "pid_app:app"],
            stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_for_workers(port, workers, process, log)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_for_workers(port: int, workers: int, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    """Until every worker has booted (gunicorn logs "Booting worker" once for each) and the port answers."""
    deadline = time.monotonic() + 30
    while True:
        log.seek(0)
        if log.read().count(b"Booting worker") >= workers:
            break
        assert process.poll() is None, "gunicorn exited"
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.05)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "gunicorn does not answer"
            time.sleep(0.05)
    time.sleep(0.3)  # the last worker logged its boot before reaching its loop


def _get(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.status == 200
    return int(response.read())


def test_a_burst_of_connections_is_shared_by_the_workers_whose_threads_are_free():
    """Two workers of two threads, four calls at once, each computing for a while: two calls a worker.

    Why: gunicorn's own gthread worker lets one worker take every connection of a burst when the other is slow
    to reach its accept (busy computing); a worker here stops listening once both its threads hold a call.
    """
    with gunicorn(workers=2, threads=2) as port:
        for _ in range(3):  # a fresh burst each time: each is split two and two
            connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(4)]
            with ThreadPoolExecutor(4) as pool:
                pids = list(pool.map(lambda c: _get(c, "/?spin=0.4"), connections))
            assert sorted(Counter(pids).values()) == [2, 2], pids
            # the connections stay with their worker (keep-alive): a call more on each answers the same way
            with ThreadPoolExecutor(4) as pool:
                assert list(pool.map(lambda c: _get(c, "/"), connections)) == pids
            for connection in connections:
                connection.close()


def test_idle_keep_alive_connections_do_not_stop_a_worker_taking_new_ones():
    """One worker, one thread, keep-alive 30 s: a second connection is served while the first stays open, idle.

    Why: ``worker_connections`` equal to the threads would hold the second connection in the backlog until the
    first one's keep-alive ran out (30 s here; the client gives up after 10).
    """
    with gunicorn(1, 1, "--keep-alive", "30") as port:
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        pid = _get(first, "/")
        second = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert _get(second, "/") == pid
        assert _get(first, "/") == pid  # the first is still open and served
        first.close()
        second.close()


def test_more_calls_than_threads_wait_for_a_free_thread_and_are_all_answered():
    """One worker, two threads, six calls at once: the calls beyond the threads wait, none is refused or lost."""
    def call(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            return _get(connection, "/?spin=0.1")
        finally:
            connection.close()

    with gunicorn(1, 2) as port, ThreadPoolExecutor(6) as pool:
        pids = list(pool.map(call, range(6)))
    assert len(pids) == 6 and len(set(pids)) == 1


@pytest.mark.parametrize("name", ["enqueue_req", "finish_request", "set_accept_enabled", "run"])
def test_gunicorns_gthread_worker_still_has_the_parts_ours_relies_on(name):
    """gunicorn's loop decides to listen on ``nr_conns < worker_connections`` before each wait; a connection is
    handed to the pool by ``enqueue_req(conn)`` and taken back by ``finish_request(conn, fs)`` on the loop's
    thread. A gunicorn release that changes these fails here, not silently in production."""
    method = getattr(ThreadWorker, name)
    parameters = list(inspect.signature(method).parameters)
    expected = {"enqueue_req": ["self", "conn"], "finish_request": ["self", "conn", "fs"],
                "set_accept_enabled": ["self", "enabled"], "run": ["self"]}
    assert parameters == expected[name]
    if name == "run":
        assert "self.nr_conns < self.worker_connections" in inspect.getsource(method)
    assert getattr(FreeThreadWorker, name) is method or name in FreeThreadWorker.__dict__


def test_the_connection_cap_still_applies_while_a_thread_is_free():
    worker = FreeThreadWorker.__new__(FreeThreadWorker)
    worker._busy, worker._threads = 0, 2
    worker.worker_connections = 5
    assert worker.worker_connections == 5
    worker._busy = 2
    assert worker.worker_connections == 0  # every thread taken: gunicorn's loop stops listening
    worker._busy = 1
    assert worker.worker_connections == 5
