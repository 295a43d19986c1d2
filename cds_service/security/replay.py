"""The jti replay cache: a token id seen once is refused until its token has expired."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol


class ReplayCache(Protocol):
    """Short-term memory of the (iss, jti) pairs already accepted.

    Several service instances must share one implementation (e.g. Redis ``SET key 1 NX EXAT expires_at``);
    the in-process one below protects a single process only.
    """

    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        """Return True if (iss, jti) was recorded before; otherwise record it until ``expires_at``."""
        ...


class InMemoryReplayCache:
    """A thread-safe, in-process ReplayCache that forgets entries once they expire."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], float] = {}
        self._by_expiry: list[tuple[float, str, str]] = []  # a min-heap, so eviction costs O(log n)

    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        """Return True if (iss, jti) is remembered; otherwise remember it until ``expires_at``."""
        key = (iss, jti)
        with self._lock:
            self._evict(self._clock())
            if key in self._expiry:
                return True
            self._expiry[key] = expires_at
            heapq.heappush(self._by_expiry, (expires_at, iss, jti))
            return False

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _evict(self, now: float) -> None:
        """Forget every entry whose token can no longer be accepted anyway."""
        while self._by_expiry and self._by_expiry[0][0] <= now:
            expires_at, iss, jti = heapq.heappop(self._by_expiry)
            if self._expiry.get((iss, jti)) == expires_at:
                del self._expiry[(iss, jti)]
