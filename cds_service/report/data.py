"""Read the shown cards of a period with their feedback, and count what happened to them.

Portable on purpose: one SELECT (shown cards LEFT JOIN feedback) in SQLAlchemy Core, then counting in Python,
so SQLite and PostgreSQL give the same numbers without dialect date functions.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from ..feedback_store import cards_shown_table as shown
from ..feedback_store import feedback_table as feedback

UNKNOWN_SUGGESTION = "(a suggestion not recorded as shown)"


@dataclass(frozen=True)
class Period:
    """Cards shown from ``start`` (included) to ``end`` (excluded), both UTC."""

    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, first: date, last: date) -> Period:
        """The whole days ``first`` to ``last``, both included.

        >>> Period.of_days(date(2026, 8, 1), date(2026, 8, 31)).end.isoformat()
        '2026-09-01T00:00:00+00:00'
        """
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return cls(start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1))

    def label(self) -> str:
        """The period for a heading.

        >>> Period.of_days(date(2026, 8, 1), date(2026, 8, 31)).label()
        '2026-08-01 to 2026-08-31 (UTC, both days included)'
        """
        last = (self.end - timedelta(microseconds=1)).date()
        return f"{self.start.date().isoformat()} to {last.isoformat()} (UTC, both days included)"


@dataclass
class WeekStats:
    """One week's cards (by the day they were shown) and what was done with them."""

    shown: int = 0
    accepted: int = 0
    overridden: int = 0

    def rate(self, count: int) -> float | None:
        """``count`` over the cards shown, or None when none were shown."""
        return count / self.shown if self.shown else None


@dataclass
class KindStats:
    """One service's cards of one kind over the period."""

    service: str
    kind: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    no_response: int = 0
    suppressed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # override reason display -> cards
    suggestions: Counter[str] = field(default_factory=Counter)  # suggestion label -> times taken
    weeks: dict[date, WeekStats] = field(default_factory=dict)  # Monday of the ISO week -> counts

    def rate(self, count: int) -> float | None:
        """``count`` over the cards shown, or None when none were shown."""
        return count / self.shown if self.shown else None


def collect(engine: Engine, period: Period) -> list[KindStats]:
    """Count the period's cards per (service, kind), sorted by service then kind."""
    cards: dict[tuple[str, str], dict[str, Any]] = {}
    with engine.connect() as connection:
        for row in connection.execute(_query(period)):
            card = cards.setdefault((row.service_id, row.card_uuid), {"row": row, "feedback": []})
            if row.outcome is not None:
                card["feedback"].append(row)
    stats: dict[tuple[str, str], KindStats] = {}
    for card in cards.values():
        row = card["row"]
        _count(stats.setdefault((row.service_id, row.kind), KindStats(row.service_id, row.kind)), row,
               card["feedback"])
    return [stats[key] for key in sorted(stats)]


def _query(period: Period) -> Any:
    joined = shown.outerjoin(feedback, and_(feedback.c.card_uuid == shown.c.card_uuid,
                                            feedback.c.service_id == shown.c.service_id))
    return (select(shown.c.service_id, shown.c.card_uuid, shown.c.kind, shown.c.suggestions, shown.c.suppressed,
                   shown.c.shown_time, feedback.c.outcome, feedback.c.accepted_suggestions,
                   feedback.c.override_reason_code, feedback.c.override_reason_display, feedback.c.outcome_time)
            .select_from(joined)
            .where(shown.c.shown_time >= _stored(period.start), shown.c.shown_time < _stored(period.end))
            .order_by(shown.c.id))


def _count(stats: KindStats, card: Any, items: list[Any]) -> None:
    """Add one card: suppressed, or shown with its last outcome (accepted, overridden, none)."""
    if card.suppressed:
        stats.suppressed += 1
        return
    monday = _utc(card.shown_time).date() - timedelta(days=_utc(card.shown_time).weekday())
    week = stats.weeks.setdefault(monday, WeekStats())
    stats.shown += 1
    week.shown += 1
    if not items:
        stats.no_response += 1
        return
    last = max(items, key=lambda item: _utc(item.outcome_time))
    if last.outcome == "accepted":
        stats.accepted += 1
        week.accepted += 1
        labels = json.loads(card.suggestions or "{}")
        taken = {uuid for item in items if item.outcome == "accepted"
                 for uuid in json.loads(item.accepted_suggestions or "[]")}
        stats.suggestions.update(labels.get(uuid, UNKNOWN_SUGGESTION) for uuid in taken)
    else:
        stats.overridden += 1
        week.overridden += 1
        stats.reasons[last.override_reason_display or last.override_reason_code or "(no reason given)"] += 1


def _utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes (written in UTC); PostgreSQL returns aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored(value: datetime) -> datetime:
    """A bound for the shown time, in UTC (what the recorder writes)."""
    return value.astimezone(UTC)
