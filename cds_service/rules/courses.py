"""Repeat prescriptions read as one course: when did the medicine really start? (B12-RULES.md §4-§5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from ..chart.facts import MedicationUse


@dataclass(frozen=True)
class Course:
    """The continuing course that ends in one current record."""

    start: date | None  # first day of the earliest record in the chain
    earlier_refs: tuple[str, ...] = ()  # the earlier records merged into it, oldest first


def _reach(use: MedicationUse, today: date) -> date | None:
    """Last day a record is known to cover: its end, today while active, else its start."""
    if use.end is not None:
        return min(use.end, today)
    return today if use.active else use.start


def course_of(current: MedicationUse, records: Iterable[MedicationUse], *, gap_days: int,
              today: date) -> Course:
    """Return the course ending in ``current``: records of the same class chained backwards.

    Why (b12-cds judgement, clinical.json tolerances.prescription_renewal_gap): repeat-prescribing
    EHRs send each renewal as its own record, the older ones completed. A record joins the
    course when it reaches (by its end, or its start when no end is recorded) to within the gap
    tolerance of the course's start, so "metformin since 2021, renewed 2 months ago" is use
    since 2021 (§4 "metformin > 4 months"), and a B12 course is dated from its first injection
    (§5 "on treatment >= 3 months").
    """
    if current.start is None:
        return Course(start=None)
    gap = timedelta(days=gap_days)
    others = [r for r in records if r is not current and r.start is not None]
    start, merged = current.start, []
    while True:
        joining = [r for r in others if r not in merged and r.start < start
                   and (reach := _reach(r, today)) is not None and reach >= start - gap]
        if not joining:
            break
        merged += joining
        start = min(r.start for r in joining if r.start is not None)
    merged.sort(key=lambda r: (r.start, r.source_ref))
    return Course(start=start, earlier_refs=tuple(r.source_ref for r in merged))
