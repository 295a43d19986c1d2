"""The call's deadline, enforced on the sockets themselves: at the deadline every connection still in use
by the call is shut down, so no read can outlast it whatever the server does (a body or headers dripped a
byte at a time each beat the per-read timeout, but not this).

A fetch names its call's ``CallGuard`` for the thread it runs on (``guarding``); the connection classes of
``GuardedAdapter`` attach their socket to that guard when they connect or send a request, and detach it
before the connection goes back to the pool for another call. One watchdog thread per process expires the
guards in deadline order. A connection shut at a deadline is never reused: the pool sees it dropped.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class CallGuard:
    """The sockets one hook call is using, shut down together at its deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline  # a time.monotonic() instant
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._expired = False

    @property
    def expired(self) -> bool:
        """True once the deadline has passed (or the watchdog fired)."""
        return self._expired or time.monotonic() >= self.deadline

    def attach(self, sock: socket.socket | None) -> None:
        """Watch a socket in use by this call (shut at once if the deadline has passed)."""
        if sock is None:
            return
        with self._lock:
            if not self._expired:
                self._sockets.add(sock)
                return
        _shut(sock)

    def detach(self, sock: socket.socket | None) -> None:
        """Stop watching a socket (the response is read; the connection may serve another call)."""
        with self._lock:
            self._sockets.discard(sock)  # type: ignore[arg-type]

    def expire(self) -> None:
        """Shut every socket still attached: a blocked read returns at once, and the slot is free."""
        with self._lock:
            self._expired = True
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing to do (a closed socket has no fd to misuse)
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread that expires guards at their deadlines, started on first use in each process."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # gunicorn forks after the app is built

    def _reset(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, CallGuard]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, guard: CallGuard) -> None:
        """Expire ``guard`` at its deadline."""
        with self._condition:
            heapq.heappush(self._heap, (guard.deadline, next(self._order), guard))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fhir-deadline", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._condition.wait(timeout)
                _, _, guard = heapq.heappop(self._heap)
            guard.expire()

    def pending(self) -> int:
        """Guards not yet expired (for tests and metrics)."""
        with self._condition:
            return len(self._heap)


WATCHDOG = Watchdog()
_current = threading.local()


@contextlib.contextmanager
def guarding(guard: CallGuard | None) -> Iterator[None]:
    """Attach the connections this thread uses inside the block to ``guard``."""
    _current.guard = guard
    try:
        yield
    finally:
        _current.guard = None


class _GuardedMixin:
    sock: socket.socket | None
    guard: CallGuard | None = None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._attach()

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._attach()  # a kept-alive connection is already connected
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _attach(self) -> None:
        guard: CallGuard | None = getattr(_current, "guard", None)
        if guard is not None and self.sock is not None:
            self.guard = guard
            guard.attach(self.sock)

    def release(self) -> None:
        """Detach from the call's guard: the connection is going back to the pool."""
        if self.guard is not None:
            self.guard.detach(self.sock)
            self.guard = None


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    """An HTTP connection whose socket the current call's guard can shut."""


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    """An HTTPS connection whose socket the current call's guard can shut."""


class _ReleasingPool:
    def _put_conn(self, conn: Any) -> None:
        if isinstance(conn, _GuardedMixin):
            conn.release()
        super()._put_conn(conn)  # type: ignore[misc]


class _GuardedHTTPPool(_ReleasingPool, HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(_ReleasingPool, HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections are shut at the deadline of the call using them."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
