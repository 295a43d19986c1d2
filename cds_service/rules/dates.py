"""Calendar arithmetic for durations stated in months (no clinical numbers here)."""

from __future__ import annotations

import calendar
import functools
from datetime import date


# Why cached: a call asks for the same few dates many times (each lookback window from today, every
# course and birthday against its months); the answer depends on nothing but the two arguments.
@functools.lru_cache(maxsize=4096)
def add_months(day: date, months: int) -> date:
    """Return the same day ``months`` later (or earlier), clamped to the month's end.

    >>> add_months(date(2026, 1, 31), 1)
    datetime.date(2026, 2, 28)
    >>> add_months(date(2026, 3, 15), -12)
    datetime.date(2025, 3, 15)
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def lasted_longer_than(start: date, end: date, months: int) -> bool:
    """True when ``end`` falls after ``start`` + ``months`` (strictly: "> 4 months").

    >>> lasted_longer_than(date(2026, 1, 1), date(2026, 5, 1), 4)
    False
    >>> lasted_longer_than(date(2026, 1, 1), date(2026, 5, 2), 4)
    True
    """
    return end > add_months(start, months)
