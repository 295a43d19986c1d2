"""Everything the cards need about one patient, decided once (B12-RULES.md §3-§5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..chart.facts import Analyte, Chart, DataSet, LabResult, MedicationUse
from ..knowledge import Knowledge, load_knowledge
from .b12_status import B12Status, B12StatusCode, b12_status
from .courses import course_of
from .dates import add_months
from .findings import ProblemFinding, RiskFactors, other_risk_factors, problem_findings
from .haematology import HaematologicalSigns, haematological_signs
from .markers import Band, total_b12_band
from .medicines import RiskMedicineUse, risk_medicines
from .therapy import counts_as_b12_replacement, low_dose_b12

_ONLY_LOWERS = frozenset({DataSet.PREGNANCY_TESTS})
_MONITORING = frozenset({Analyte.B12_TOTAL, Analyte.B12_ACTIVE, Analyte.MMA})


@dataclass(frozen=True)
class Reassessment:
    """On treatment for >= 3 months with no B12/MMA since starting (§5)."""

    due: bool
    since: date | None  # start of the current replacement
    note: str | None = None


_NOT_ON_TREATMENT = Reassessment(due=False, since=None)  # frozen: one serves every call without replacement


@dataclass(frozen=True)
class B12Assessment:
    """The B12 status plus the findings that shape the cards."""

    status: B12Status
    neuro: ProblemFinding
    pure_motor: ProblemFinding
    malabsorption: ProblemFinding
    ileal_resection: ProblemFinding
    recorded_deficiency: ProblemFinding
    risk_medicines: tuple[RiskMedicineUse, ...]
    other_risks: RiskFactors
    haematology: HaematologicalSigns
    reassessment: Reassessment
    stale_low_b12: LabResult | None
    low_dose_b12: tuple[MedicationUse, ...]
    notes: tuple[str, ...]

    @classmethod
    def of(cls, **fields: object) -> B12Assessment:
        """Return ``B12Assessment(**fields)``, every field given, without the frozen dataclass's ``__init__``.

        Why: as ``LabResult.of`` - that ``__init__`` sets the 13 fields one by one through
        ``object.__setattr__`` (5 µs here, 2 µs this way); one is built on every call. The instance is the same
        and as frozen (``tests/test_rules_fast_paths.py``).
        """
        assessment = object.__new__(cls)
        assessment.__dict__.update(fields)
        return assessment

    @property
    def current_risk_medicines(self) -> tuple[RiskMedicineUse, ...]:
        return tuple(r for r in self.risk_medicines if r.past_duration)

    @property
    def warrants_testing(self) -> bool:
        """§5 patient-view "not tested" triggers.

        Why (b12-cds judgement): beyond the table's neuro / blood count / risk medicine /
        malabsorption triggers, B12 deficiency on the problem list and an old deficient
        result without treatment also call for a test.
        """
        return (self.neuro.present or self.haematology.present or bool(self.current_risk_medicines)
                or self.malabsorption.present or self.recorded_deficiency.present
                or self.stale_low_b12 is not None)

    @property
    def folate_risk(self) -> bool:
        """§5 folic acid "not tested, with neuro involvement, macrocytosis/anaemia or risk factors"."""
        return self.warrants_testing or self.other_risks.present


def assess(chart: Chart, kb: Knowledge | None = None) -> B12Assessment:
    """Run every rule once over the chart."""
    kb = kb or load_knowledge()
    status = b12_status(chart, kb)
    haem = haematological_signs(chart, kb)
    # Why: a data set that can only lower a card (pregnancy tests: §5 downgrade) is not a data-quality
    # gap when missing - without it the card keeps the cautious level.
    missing = sorted(str(name) for name in chart.missing - _ONLY_LOWERS)
    notes = [*chart.notes, *(f"data set not available: {name}" for name in missing)]
    for pick in status.picks:
        notes.extend(pick.notes)
    notes.extend(status.renal.notes)
    notes.extend(haem.notes)
    found = problem_findings(chart)
    return B12Assessment.of(
        status=status, neuro=found["neuro"], pure_motor=found["pure_motor"], malabsorption=found["malabsorption"],
        ileal_resection=found["ileal_resection"], recorded_deficiency=found["recorded_deficiency"],
        risk_medicines=risk_medicines(chart, kb),
        other_risks=other_risk_factors(chart, kb, problems=found["other_risks"]), haematology=haem,
        reassessment=reassessment_due(chart, status, kb), stale_low_b12=_stale_low_b12(status, kb),
        low_dose_b12=low_dose_b12(chart, kb), notes=tuple(dict.fromkeys(notes)),
    )


def reassessment_due(chart: Chart, status: B12Status, kb: Knowledge) -> Reassessment:
    """Due when replacement began >= 3 months ago and no B12 or MMA was measured since (002, 004).

    Why: the earliest start among active replacements dates the course, earlier replacement
    records chained by renewal included (``courses.course_of``: a loading course then a
    maintenance renewal is one course); without any start date the interval cannot be judged
    and the card says nothing rather than guess.
    """
    if status.code is not B12StatusCode.ON_TREATMENT:
        return _NOT_ON_TREATMENT
    replacements = [u for u in chart.medications if counts_as_b12_replacement(u, kb)]
    gap = kb.tolerances.prescription_renewal_gap.days
    courses = [course_of(u, replacements, gap_days=gap, today=chart.today) for u in status.therapy]
    starts = [c.start for c in courses if c.start is not None]
    if not starts:
        return Reassessment(due=False, since=None, note="B12 replacement start date not recorded")
    since = min(starts)
    if chart.today < add_months(since, kb.durations.on_treatment_reassessment.months):
        return Reassessment(due=False, since=since)
    measured = any(r.analyte in _MONITORING and r.usable and r.effective is not None and r.effective >= since
                   for r in chart.labs)
    return Reassessment(due=not measured, since=since)


def _stale_low_b12(status: B12Status, kb: Knowledge) -> LabResult | None:
    """The newest total B12 older than the lookback, when it was deficient (a reason to test again).

    Why the band alone (``total_b12_band``): the reading's explanation and note are not shown for it.
    """
    for pick in status.picks:
        if pick.analyte is Analyte.B12_TOTAL:
            result = pick.stale_latest
            if result is not None and result.value is not None and total_b12_band(result, kb) is Band.LOW:
                return result
    return None
