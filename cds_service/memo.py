"""A bounded memo for answers that depend only on a key read from the request (a concept's codings, a context).

Requests bring any values, so what is remembered is bounded: when full, everything is forgotten at once
(the next calls fill it again with what is in use). Keys must be hashable and hold every input the answer
depends on; the answer is shared, so a caller that hands it on must copy a mutable one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class BoundedMemo(Generic[V]):
    """``memo.get(key, compute)``: the answer remembered for ``key``, or ``compute()`` remembered."""

    def __init__(self, limit: int) -> None:
        self._kept: dict[Hashable, V] = {}
        self._limit = limit

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        found = self._kept.get(key, _MISSING)
        if found is _MISSING:
            found = compute()
            if len(self._kept) >= self._limit:
                self._kept.clear()
            self._kept[key] = found
        return found  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._kept)
