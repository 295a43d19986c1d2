"""The worker's FHIR fetch slots, shared fairly: one call runs at most ``per_call`` fetches at once, and
waiting fetches start earliest call deadline first.

All calls of a worker share one pool of FHIR_MAX_CONCURRENCY threads (the slots). Without a cap, a call
with many keys against a slow server could fill every slot and the queue in front of them, and calls to
other servers would wait behind it. With the cap, a call's further fetches wait in its own queue and start
as its earlier ones end; a fetch whose call's deadline has passed never starts. When the FHIR servers cannot
keep up (measured: four concurrent no-prefetch calls against a server that slows down with load all missed
the deadline together), the earliest calls get their data first instead of every call getting a part of it.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from .fhir_client import FetchError

#: A fetch thread with nothing to do for this long ends (a new one starts when fetches come again).
IDLE_SECONDS = 30.0


class SlotCount:
    """How many of the worker's slots are running a fetch now (for the metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.busy = 0

    def add(self, delta: int) -> int:
        """Change the count; return the new value."""
        with self._lock:
            self.busy += delta
            return self.busy


class FetchPool:
    """The worker's fetch threads (its slots). Waiting fetches start earliest call deadline first, and at
    most ``per_server`` run against one FHIR server at a time: the rest wait here, where only their call's
    deadline counts, rather than in the server's queue, where each also counts against the read timeout."""

    def __init__(self, max_workers: int, per_server: int | None = None, thread_name_prefix: str = "fhir-fetch") -> None:
        self.max_workers = max_workers
        self.per_server = per_server or max_workers
        self._prefix = thread_name_prefix
        self._condition = threading.Condition()
        self._waiting: list[tuple[float, int, str, Callable[[], None]]] = []  # sorted: earliest deadline first
        self._running: Counter[str] = Counter()  # by server
        self._order = itertools.count()
        self._threads = 0  # started when needed (never in a gunicorn master before the fork); idle ones end
        self._idle = 0  # threads waiting for a task

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` after every task with an earlier deadline (last, with no deadline)."""
        return self.submit_by(float("inf"), fn, *args)

    def submit_by(self, deadline: float, fn: Callable[..., Any], *args: Any, server: str = "") -> Future[Any]:
        """Run ``fn(*args)`` when a thread is free, ``server`` is under its cap, and no task with an earlier
        deadline could run instead."""
        future: Future[Any] = Future()

        def task() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)

        with self._condition:
            bisect.insort(self._waiting, (deadline, next(self._order), server, task))
            if self._idle < self._runnable() and self._threads < self.max_workers:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self._prefix}-{self._threads}", daemon=True).start()
            self._condition.notify_all()
        return future

    def _runnable(self) -> int:
        """How many waiting tasks could start now (their server under its cap)."""
        room = Counter({server: self.per_server - running for server, running in self._running.items()})
        runnable = 0
        for _, _, server, _ in self._waiting:
            if room.get(server, self.per_server) > 0:
                room[server] = room.get(server, self.per_server) - 1
                runnable += 1
        return runnable

    def _take(self) -> tuple[str, Callable[[], None]] | None:
        for index, (_, _, server, task) in enumerate(self._waiting):
            if self._running[server] < self.per_server:
                del self._waiting[index]
                self._running[server] += 1
                return server, task
        return None

    def _work(self) -> None:
        while True:
            with self._condition:
                taken = self._take()
                while taken is None:
                    self._idle += 1
                    woken = self._condition.wait(IDLE_SECONDS)
                    self._idle -= 1
                    taken = self._take()
                    if taken is None and not woken:
                        self._threads -= 1  # idle for a while: end, and start again when needed
                        return
            server, task = taken
            try:
                task()
            finally:
                with self._condition:
                    self._running[server] -= 1
                    if not self._running[server]:
                        del self._running[server]
                    self._condition.notify_all()


class CallSlots:
    """Submit one call's fetches to the shared pool, at most ``per_call`` in it at a time."""

    def __init__(self, executor: Executor | FetchPool, per_call: int, deadline: float, count: SlotCount | None = None,
                 report: Callable[[int], None] | None = None, server: str = "") -> None:
        self._executor = executor
        self._server = server  # the call's FHIR base: the pool caps the fetches to one server
        self._per_call = max(1, per_call)
        self._deadline = deadline
        self._count = count or SlotCount()
        self._report = report or (lambda busy: None)
        self._lock = threading.Lock()
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._in_pool = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` in the pool when this call has a slot; the future holds its result."""
        future: Future[Any] = Future()
        with self._lock:
            self._queue.append((future, fn, args))
        self._start_next()
        return future

    def _start_next(self) -> None:
        while True:
            with self._lock:
                if self._in_pool >= self._per_call or not self._queue:
                    return
                future, fn, args = self._queue.popleft()
                if not future.set_running_or_notify_cancel():
                    continue  # cancelled while it waited (the call gave up at its deadline)
                self._in_pool += 1
            if isinstance(self._executor, FetchPool):
                self._executor.submit_by(self._deadline, self._run, future, fn, args, server=self._server)
            else:
                self._executor.submit(self._run, future, fn, args)

    def _run(self, future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._report(self._count.add(1))
        try:
            if time.monotonic() >= self._deadline:
                raise FetchError("the deadline for FHIR fetches passed before this fetch could start", "deadline")
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)
        finally:
            self._report(self._count.add(-1))
            with self._lock:
                self._in_pool -= 1
            self._start_next()
