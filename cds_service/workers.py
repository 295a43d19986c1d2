"""The gunicorn worker ``b12-cds serve`` runs by default: gthread, accepting only while a thread is free.

Why (issue #12, measured in docs/performance.md "Worker model"): gunicorn's gthread worker accepts every
connection it can while its main thread is awake. The listening socket is shared by all the workers, and a
worker whose threads hold the interpreter lock on calls cannot get to its ``accept`` quickly, so a burst of new
keep-alive connections (an EHR's connection pool opening, or a load test starting while the last calls finish)
went to whichever worker happened to be idle: in about a third of the benchmark runs one worker took all
sixteen connections and served them on its eight threads while the other worker sat idle, halving the calls a
second and raising the CPU a call by half (GIL contention among sixteen waiting calls).

This worker stops listening while every one of its threads has a connection in hand, and listens again as soon
as one is free. New connections then wait in the kernel's backlog for the first worker with a free thread, not in
one busy worker's queue. Idle keep-alive connections hold no thread, so they never stop a worker from accepting
(unlike ``worker_connections``, which counts them; see ``b12-cds serve --worker-connections``), and a single
worker behaves as before: a connection beyond its threads waited in its queue, now it waits in the backlog.
"""

from __future__ import annotations

from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class FreeThreadWorker(ThreadWorker):
    """gthread, listening for new connections only while one of its threads is free.

    gunicorn's loop asks ``nr_conns < worker_connections`` before each wait and stops or starts listening on
    the answer; here ``worker_connections`` answers 0 while every thread is taken, so the loop stops listening,
    and the configured cap otherwise. A thread is taken from the moment a connection is handed to the pool
    (``enqueue_req``) until the loop takes the finished call back (``finish_request``, on the loop's thread).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._busy = 0  # connections handed to the pool and not yet taken back (only the loop's thread counts)
        super().__init__(*args, **kwargs)
        self._threads = max(int(self.cfg.threads), 1)

    @property  # type: ignore[override]
    def worker_connections(self) -> int:
        return 0 if self._busy >= self._threads else self._connection_cap

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._connection_cap = value

    def enqueue_req(self, conn: Any) -> None:
        self._busy += 1
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._busy -= 1
        super().finish_request(conn, fs)
