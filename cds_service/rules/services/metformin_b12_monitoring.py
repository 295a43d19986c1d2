"""metformin-b12-monitoring (order-select): B12 monitoring when long-term metformin is renewed (B12-RULES.md §8).

The table (§8), read top to bottom once a *selected* live draft is metformin and the patient has
taken metformin for more than 4 months before this order (records on file; the draft never counts).
The monitoring card is a warning with neurological involvement, else info.

| B12 picture                                                 | card                                   |
|-------------------------------------------------------------|----------------------------------------|
| on B12 replacement                                          | none                                   |
| deficient or indeterminate (12-month lookback), not treated | b12-status's status card, unchanged    |
| an old deficient or borderline result, nothing newer        | b12-status's status card, unchanged    |
| no usable B12, active B12 or MMA within the interval        | ``metformin_monitoring`` (info / warning) |
| tested within the interval and not deficient                | none                                   |

The interval is 36 months, 12 with neurological involvement, macrocytosis or anaemia: service
parameters (``x-b12cds.parameters`` in hooks/metformin-b12-monitoring.json, each with its source).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field

from ...chart.facts import Analyte, Chart, MedicationClass, MedicationUse
from ...knowledge import Knowledge
from ..assessment import B12Assessment, assess
from ..b12_status import B12StatusCode, b12_status
from ..courses import course_of
from ..dates import lasted_longer_than
from ..decision import Call, Decision, Labs, Level, Row, RuleModule, Span, first_row, register
from ..medicines import DraftFinding, RiskMedicineUse, risk_medicines
from ..therapy import b12_replacement_in_drafts
from .b12_status import status_decision

NAME = "metformin_b12_monitoring"
_CONCERNING = frozenset({B12StatusCode.DEFICIENT, B12StatusCode.INDETERMINATE})
_MARKERS = frozenset({Analyte.B12_TOTAL, Analyte.B12_ACTIVE, Analyte.MMA})


class Interval(BaseModel):
    """A monitoring interval in calendar months, with where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    months: int = Field(gt=0)
    source: str = Field(min_length=1)


class Parameters(BaseModel):
    """``x-b12cds.parameters`` of the service: knowledge it alone uses, each entry with its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    monitoring_interval: Interval  # no signs: FDA metformin label, B12 every 2-3 years
    monitoring_interval_with_signs: Interval  # neurological involvement, macrocytosis or anaemia


@dataclass(frozen=True)
class Situation:
    """What the table reads: the assessment, the metformin course, and B12 over the interval."""

    a: B12Assessment
    course: RiskMedicineUse  # the metformin taken before this order
    drafts: tuple[MedicationUse, ...]  # the selected metformin drafts
    signs: bool  # neurological involvement, macrocytosis or anaemia: the shorter interval
    interval: int  # months
    over_interval: B12StatusCode  # the B12 status judged over the whole interval
    ever_measured: bool  # a usable B12, active B12 or MMA of any age (not dated in the future)

    @property
    def defers(self) -> bool:
        """b12-status already has a card for this B12 picture: show that one (§8 row 2).

        Why (b12-cds judgement, the cautious branch): a deficient or borderline result without
        treatment is not "tested and not deficient" even when it is older than the 12-month
        lookback. patient-view calls an old low result "stale low" and an old borderline one
        "not tested recently", and asks for a B12 test naming it; this card says the same. A
        usable result within the lookback that is not deficient stays reassuring on its own.
        """
        code = self.a.status.code
        if code in _CONCERNING:
            return True
        return code is B12StatusCode.NOT_TESTED and (
            self.a.stale_low_b12 is not None or self.over_interval in _CONCERNING)


def _level(s: Situation) -> Level:
    return Level.WARNING if s.a.neuro.present else Level.INFO


def _variant(s: Situation) -> str | None:
    wording = ("signs" if s.signs else "") + ("_never" if not s.ever_measured else "")
    return wording.strip("_") or None


ROWS = (
    Row("long-term metformin, no usable B12, active B12 or MMA within the interval (36 months; 12 with "
        "neurological involvement, macrocytosis or anaemia): info, warning with neurological involvement",
        lambda s: s.over_interval is B12StatusCode.NOT_TESTED and not s.defers,
        "metformin_monitoring", _level,
        # Why: §8 "suggest a serum B12 ServiceRequest"; MMA follows an indeterminate result (the card says so).
        offers=lambda s: (Labs("order_b12", ("b12_total",)),), variant=_variant,
        suggestions=("order_b12",), variants=("never", "signs", "signs_never")),
)


def selected_metformin(chart: Chart, call: Call) -> tuple[MedicationUse, ...]:
    """Live metformin drafts among the selected ones (§8: other selected drafts are not its business)."""
    return tuple(u for u in chart.draft_orders
                 if u.med_class is MedicationClass.METFORMIN and u.active and u.source_ref in call.selections)


def continuing_course(chart: Chart, kb: Knowledge,
                      drafts: tuple[MedicationUse, ...] = ()) -> RiskMedicineUse | None:
    """The metformin course this order continues, or None for a new start or a restart.

    Why (§8, reusing §4/§7 as b12-status reads them): ``risk_medicines`` merges renewals into one
    course and calls it past its duration when it lasted more than 4 months and is current or
    stopped within the last 12 months; a course that ended earlier is a restart. An active record
    with no start date counts (the cautious reading b12-status takes; its line on the card says so).
    """
    # Why: a record on file with a selected draft's id is that order itself, never earlier use.
    refs = {d.source_ref for d in drafts if d.source_ref}
    chart = dataclasses.replace(chart, medications=tuple(u for u in chart.medications if u.source_ref not in refs))
    found = [r for r in risk_medicines(chart, kb) if r.use.med_class is MedicationClass.METFORMIN and r.past_duration]
    found.sort(key=lambda r: (not r.use.active, r.course_start or chart.today))
    return found[0] if found else renewed_course(chart, kb)


def renewed_course(chart: Chart, kb: Knowledge) -> RiskMedicineUse | None:
    """The course this order renews when every earlier record has run out without an end date.

    Why (b12-cds judgement, found in review): repeat-prescribing EHRs mark each past prescription
    completed with only its authored date; the usual renewal is the GP renewing the last one. The
    draft (dated today) is chained backwards over the records on file with the renewal gap
    (``courses.course_of``, as b12-status dates courses); more than 4 months of chained use is a
    continuation. A chain that does not reach today is a restart: no card.
    """
    records = [u for u in chart.medications if u.med_class is MedicationClass.METFORMIN and not u.is_draft]
    if not records:
        return None
    order = MedicationUse(med_class=MedicationClass.METFORMIN, ingredient="metformin", display="metformin",
                          route=records[0].route, daily_dose_mg=None, start=chart.today, end=None, active=True)
    course = course_of(order, records, gap_days=kb.tolerances.prescription_renewal_gap.days, today=chart.today)
    entry = kb.risk_medicines[MedicationClass.METFORMIN.value]
    if course.start is None or not course.earlier_refs or entry.min_months is None or not lasted_longer_than(
            course.start, chart.today, entry.min_months):
        return None
    last = max((u for u in records if u.source_ref in course.earlier_refs), key=lambda u: u.start or date.min)
    return RiskMedicineUse(use=last, label=entry.label, min_months=entry.min_months,
                           days_taken=(chart.today - course.start).days, past_duration=True,
                           course_start=course.start, earlier_refs=course.earlier_refs)


def situation(chart: Chart, kb: Knowledge, params: Parameters, course: RiskMedicineUse,
              drafts: tuple[MedicationUse, ...]) -> Situation:
    """Assess B12 once, then judge it again over the service's interval.

    Why: the B12 status rules (§3) decide over the interval exactly as they do over the 12-month
    lookback - newest usable result per marker, comparators, MMA and the renal caveat - so
    "tested within the interval and not deficient" means what "not deficient" means elsewhere.
    """
    a = assess(chart, kb)
    signs = a.neuro.present or a.haematology.present
    interval = (params.monitoring_interval_with_signs if signs else params.monitoring_interval).months
    over = b12_status(chart, kb, lookback_months=interval).code
    latest = chart.today + timedelta(days=kb.tolerances.future_result_grace.days)
    ever = any(r.analyte in _MARKERS and r.usable and r.effective is not None and r.effective <= latest
               for r in chart.labs)
    return Situation(a=a, course=course, drafts=drafts, signs=signs, interval=interval, over_interval=over,
                     ever_measured=ever)


def _orders(s: Situation, kb: Knowledge) -> tuple[DraftFinding, ...]:
    """The selected drafts, and why each is a continuation (the course itself is under "Values used").

    Why (B12-RULES.md §8, §9; found in review): the long course that makes this a continuation may have
    stopped while a newer, shorter prescription is current (stopped in March, taken again since July,
    not chained: the gap exceeds the renewal tolerance). The draft renews the current prescription, so
    its line says so and names the stop; "restarts" is only for a draft with no current metformin.
    """
    use = s.course.use
    drafts = {d.source_ref for d in s.drafts}
    current = next((r for r in s.a.risk_medicines if r.use.med_class is MedicationClass.METFORMIN
                    and r.use.active and r.use.source_ref not in drafts), None)
    if use.active:
        why = "continues current metformin"
    elif current is not None and use.end is not None:
        since = current.course_start or current.use.start
        why = (f"continues current metformin ({f'since {since}, ' if since else ''}"
               f"after a course stopped on {use.end})")
    elif use.end is None:
        why = f"renews metformin taken since {s.course.course_start}, last prescribed on {use.start}"
    else:
        months = kb.durations.risk_medicine_recent_stop.months
        why = f"restarts metformin stopped on {use.end or 'an unrecorded date'}, less than {months} months ago"
    return tuple(DraftFinding(use=d, reason=why) for d in s.drafts)


def decide(chart: Chart, kb: Knowledge, call: Call) -> tuple[Decision, ...]:
    """At most one card: b12-status's own status card, or the metformin monitoring card."""
    if chart.patient is not None and chart.patient.deceased:
        return ()  # Why: as b12-status (B12-RULES.md §7): no card on a deceased patient's record.
    drafts = selected_metformin(chart, call)
    if drafts and b12_replacement_in_drafts(chart.draft_orders, kb):
        # Why (as folic-acid-safety, B12-RULES.md §7): B12 replacement in this order session is
        # B12 therapy; offering a test or a second regimen would be noise or a double order.
        return ()
    course = continuing_course(chart, kb, drafts) if drafts else None
    if course is None:
        return ()  # Why: §8 - no metformin selected, or a new start / restart: no card.
    s = situation(chart, kb, call.parameters, course, drafts)
    if s.a.status.code is B12StatusCode.ON_TREATMENT:
        return ()  # Why: §8 - on B12 replacement: monitoring is the replacement's follow-up, not this card.
    if s.defers:
        deferred = status_decision(s.a)
        return (deferred,) if deferred is not None else ()
    row = first_row(ROWS, s)
    facts = {"interval": Span(s.interval)}
    return (row.decide(s, s.a, orders=_orders(s, kb), facts=facts),) if row else ()


RULES = register(RuleModule(name=NAME, decide=decide, rows=ROWS, placeholders={"interval": "12 months"},
                            parameters=Parameters, uses=("b12_status",)))
