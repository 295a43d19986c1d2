"""Move a FHIR chart in time by whole days, so a story written for one day reads the same on another.

The fixture charts are written as of their scenario's ``evaluatedAt``; the rules read dates
relative to today ("metformin for > 4 months", "a B12 result within 12 months"). Shifting every
temporal value by the days between ``evaluatedAt`` and the load date keeps every interval intact.

What is shifted: string values (or lists of them) in the FHIR date, dateTime or instant format,
under a key that FHIR uses for time: names ending in ``Date``, ``DateTime``, ``Instant`` or ``On``
(birthDate, effectiveDateTime, authoredOn, ...) and the names in ``TEMPORAL_NAMES`` (Period
``start``/``end``, ``issued``, ``date``, ``lastUpdated``, ...). Codes, ids and free text are never
touched, even when they look like a year (RxNorm ``6809``) or hold a date in prose ("LMP 2026-06-16").

Partial dates keep their precision: the middle of the year or month is shifted and the result
truncated, so "1992" stays "1992" for a shift of a few months and the error never exceeds half
the period. The time of day and the time zone of a dateTime or instant are kept as written.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

__all__ = ["days_between", "describe_shift", "is_temporal_key", "shift_dates", "shift_value"]

TEMPORAL_SUFFIXES = ("Date", "DateTime", "Instant", "On")
#: FHIR R4 element names of type date, dateTime or instant that the suffixes miss.
TEMPORAL_NAMES = frozenset({
    "date", "issued", "start", "end", "lastUpdated", "lastModified", "recorded", "created", "dateAsserted",
    "event", "time", "timestamp", "whenHandedOver", "whenPrepared",
})
_TEMPORAL = re.compile(
    r"^(?P<year>[0-9]{4})(?:-(?P<month>0[1-9]|1[0-2])(?:-(?P<day>0[1-9]|[12][0-9]|3[01])"
    r"(?P<rest>T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?$"
)


def days_between(written_for: date, as_of: date) -> int:
    """Return the whole days that move ``written_for`` onto ``as_of``.

    >>> days_between(date(2026, 9, 1), date(2026, 11, 21))
    81
    """
    return (as_of - written_for).days


def is_temporal_key(key: str) -> bool:
    """True when FHIR uses the element ``key`` for a date, dateTime or instant.

    >>> [is_temporal_key(k) for k in ("effectiveDateTime", "authoredOn", "start", "code", "id", "text")]
    [True, True, True, False, False, False]
    """
    return key in TEMPORAL_NAMES or key.endswith(TEMPORAL_SUFFIXES)


def shift_value(value: str, days: int) -> str:
    """Shift one FHIR date, dateTime or instant by ``days``; anything else comes back unchanged.

    >>> shift_value("2026-08-18", 81)
    '2026-11-07'
    >>> shift_value("2026-08-18T09:30:00+01:00", 81)
    '2026-11-07T09:30:00+01:00'
    >>> shift_value("1992", 81), shift_value("1992", 200), shift_value("2025-06", 20)
    ('1992', '1993', '2025-07')
    >>> shift_value("not a date", 81), shift_value("2026-02-30", 1)
    ('not a date', '2026-02-30')
    """
    match = _TEMPORAL.match(value)
    if match is None or days == 0:
        return value
    year, month, day = int(match["year"]), match["month"], match["day"]
    try:
        if month is None:  # why: shift the middle of the year, so the year moves only past half a year
            return f"{(date(year, 7, 2) + timedelta(days=days)).year:04d}"
        if day is None:
            moved = date(year, int(month), 15) + timedelta(days=days)
            return f"{moved.year:04d}-{moved.month:02d}"
        moved = date(year, int(month), int(day)) + timedelta(days=days)
    except (ValueError, OverflowError):
        return value  # not a real calendar date: leave it for the server to judge
    return moved.isoformat() + (match["rest"] or "")


def shift_dates(node: Any, days: int, *, key: str = "") -> Any:
    """Return a copy of a FHIR JSON value with every temporal value shifted by ``days``.

    >>> shift_dates({"effectiveDateTime": "2026-08-18", "code": {"coding": [{"code": "6809"}]},
    ...              "note": [{"text": "LMP 2026-06-16"}], "effectivePeriod": {"start": "2026-01-01"}}, 1)
    {'effectiveDateTime': '2026-08-19', 'code': {'coding': [{'code': '6809'}]}, \
'note': [{'text': 'LMP 2026-06-16'}], 'effectivePeriod': {'start': '2026-01-02'}}
    """
    if isinstance(node, dict):
        return {name: shift_dates(value, days, key=name) for name, value in node.items()}
    if isinstance(node, list):
        return [shift_dates(item, days, key=key) for item in node]
    if isinstance(node, str) and is_temporal_key(key):
        return shift_value(node, days)
    return node


def describe_shift(days: int, written_for: date, as_of: date) -> str:
    """Say what a shift does, in one line for the terminal.

    >>> describe_shift(81, date(2026, 9, 1), date(2026, 11, 21))
    'dates shifted by +81 days: charts read as on 2026-11-21 as they did on 2026-09-01'
    """
    if days == 0:
        return f"dates as written: charts read as on {written_for.isoformat()}"
    return (f"dates shifted by {days:+d} days: charts read as on {as_of.isoformat()} "
            f"as they did on {written_for.isoformat()}")
