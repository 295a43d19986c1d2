"""Risk medicines with their durations, and folic acid among the draft orders (B12-RULES.md §4-§5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..chart.facts import Chart, MedicationClass, MedicationUse
from ..knowledge import Knowledge
from .courses import course_of
from .dates import add_months, lasted_longer_than

_DOSE_ELEMENTS = frozenset({"dosageInstruction", "dosage"})


@dataclass(frozen=True)
class RiskMedicineUse:
    """One use of a B12-lowering medicine and whether it has lasted long enough to matter."""

    use: MedicationUse
    label: str  # "metformin"
    min_months: int | None  # None: any current use counts
    days_taken: int | None  # course start to end (or today); None when the start is unknown
    past_duration: bool  # active and longer than min_months (or start unknown)
    note: str | None = None
    course_start: date | None = None  # start of the course (earlier renewals merged), else use.start
    earlier_refs: tuple[str, ...] = ()  # earlier records of the same course, oldest first


@dataclass(frozen=True)
class DraftFinding:
    """A draft order a card is about, and why it matters (folic acid: its dose against the trigger)."""

    use: MedicationUse
    reason: str  # "0.4 mg/day (> 0.1 mg/day)" or "dose not stated"


FolicAcidOrder = DraftFinding  # a draft folic acid order that triggers the folate-trap check


def risk_medicines(chart: Chart, kb: Knowledge) -> tuple[RiskMedicineUse, ...]:
    """Every recorded use of a §4 risk medicine, current and past, with its duration.

    Why (b12-cds judgement): only *current* use past its duration triggers testing; past
    use is shown as context. An active use with no start date counts (cautious) and says so.
    A current record's duration runs from the start of its course: earlier records of the
    same class chained by renewal (``courses.course_of``) are merged into it, not listed.
    """
    uses = [u for u in chart.medications if u.med_class.value in kb.risk_medicines and not u.is_draft]
    if not uses:
        return ()
    gap = kb.tolerances.prescription_renewal_gap.days
    since = add_months(chart.today, -kb.durations.risk_medicine_recent_stop.months)
    courses = {id(u): course_of(u, [o for o in uses if o.med_class is u.med_class], gap_days=gap,
                                today=chart.today) for u in uses if u.active or _stopped_since(u, since)}
    merged = {ref for course in courses.values() for ref in course.earlier_refs}
    found: list[RiskMedicineUse] = []
    for use in uses:
        if not use.active and use.source_ref in merged:
            continue
        course = courses.get(id(use))
        found.append(_risk_use(use, course.start if course else use.start,
                               course.earlier_refs if course else (), chart, kb))
    return tuple(found)


def _stopped_since(use: MedicationUse, since: date) -> bool:
    """True when a record that is no longer taken ended on or after ``since``."""
    return not use.active and use.end is not None and use.end >= since


def _risk_use(use: MedicationUse, start: date | None, earlier: tuple[str, ...], chart: Chart,
              kb: Knowledge) -> RiskMedicineUse:
    entry = kb.risk_medicines[use.med_class.value]
    end = min(use.end, chart.today) if use.end else chart.today
    days = (end - start).days if start else None
    note = None
    if start is None:
        past = use.active
        note = "start date not recorded: duration unknown"
    elif entry.min_months is None:
        past = use.active
    else:
        # Why: §7 - a long course stopped within the last 12 months still counts.
        recent = _stopped_since(use, add_months(chart.today, -kb.durations.risk_medicine_recent_stop.months))
        past = (use.active or recent) and lasted_longer_than(start, end, entry.min_months)
    return RiskMedicineUse(use=use, label=entry.label, min_months=entry.min_months, days_taken=days,
                           past_duration=past, note=note, course_start=start, earlier_refs=earlier)


def folic_acid_in_draft_orders(chart: Chart, kb: Knowledge,
                               selections: tuple[str, ...] | None = None) -> tuple[FolicAcidOrder, ...]:
    """Draft folic acid at > 0.1 mg/day or an unknown dose.

    :param selections: order-select passes the selected "MedicationRequest/<id>" refs;
        order-sign passes None (every draft counts).
    Why: §1/§5 - above 0.1 mg/day folic acid corrects the anaemia and hides the deficiency
    (004, FDA label); an unstated dose cannot be assumed small. A product that also
    contains B12 (B12_FOLATE_COMBINATION) is never a trigger.
    """
    limit = kb.thresholds.folic_acid_trigger_above_mg_per_day.value
    orders: list[FolicAcidOrder] = []
    for use in chart.draft_orders:
        # Why: §5 - only a live draft (draft / active / on-hold) is about to be given.
        if use.med_class is not MedicationClass.FOLIC_ACID or not use.active:
            continue
        if selections is not None and use.source_ref not in selections:
            continue
        if use.daily_dose_mg is None:
            # Why: §7 - an unreadable dose is an unknown dose: it triggers, and the card says why.
            unread = any(e in _DOSE_ELEMENTS for e in use.unread)
            orders.append(FolicAcidOrder(use=use, reason="dose could not be read" if unread else "dose not stated"))
        elif use.daily_dose_mg > limit:
            reason = f"{use.daily_dose_mg:g} mg/day (above {limit:g} mg/day)"
            orders.append(FolicAcidOrder(use=use, reason=reason))
    return tuple(orders)


def standard_pregnancy_dose(orders: tuple[FolicAcidOrder, ...], kb: Knowledge) -> bool:
    """True when every triggering order is within the 0.4-5 mg/day pregnancy standard (§5).

    Why (b12-cds judgement): an unstated dose is not assumed to be the standard one.
    """
    low = kb.thresholds.pregnancy_folic_acid_low_mg_per_day.value
    high = kb.thresholds.pregnancy_folic_acid_high_mg_per_day.value
    return bool(orders) and all(
        o.use.daily_dose_mg is not None and low <= o.use.daily_dose_mg <= high for o in orders)
