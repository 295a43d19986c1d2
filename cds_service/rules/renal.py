"""The renal caveat: MMA rises in renal impairment (B12-RULES.md §3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..chart.facts import Analyte, Chart, Comparator, DataSet, LabResult, Problem, ProblemCategory
from ..knowledge import Knowledge
from .labs import known_below, latest_usable_result


@dataclass(frozen=True)
class RenalCaveat:
    """Whether a raised MMA can establish deficiency, and what says it cannot."""

    applies: bool
    egfr: LabResult | None
    ckd_problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()


_NO_RENAL_DATA = RenalCaveat(applies=False, egfr=None, ckd_problems=())  # frozen: one serves every such chart


def renal_caveat(chart: Chart, kb: Knowledge, *, lookback_months: int | None = None) -> RenalCaveat:
    """eGFR below 30 (most recent usable) or CKD stage 4-5 on the problem list.

    Why (b12-cds judgement): the caveat weakens a deficiency call, so it applies only
    when renal impairment is *known*: "<45" is not known to be below 30, and a missing
    renal data set is said, not assumed.
    """
    limit = kb.thresholds.egfr_renal_caveat_below.value
    egfr = latest_usable_result(chart, Analyte.EGFR, kb, lookback_months=lookback_months)
    ckd = tuple(p for p in chart.problems if p.category is ProblemCategory.CKD_STAGE_4_5 and p.active)
    low_egfr = egfr is not None and known_below(egfr, limit)
    notes: list[str] = []
    if egfr is None and DataSet.RENAL_FUNCTION in chart.missing:
        notes.append("renal function could not be retrieved: MMA interpreted without it")
    elif egfr is not None and not low_egfr and egfr.value is not None and egfr.value > limit and (
            egfr.comparator in (Comparator.LT, Comparator.LE)):
        notes.append(f"eGFR reported as {egfr.reported}: may be below {limit:g}; MMA read with care")
    if egfr is None and not ckd and not notes:
        return _NO_RENAL_DATA  # nothing to apply, show or say (most charts: no eGFR, no CKD)
    return RenalCaveat(applies=low_egfr or bool(ckd), egfr=egfr, ckd_problems=ckd, notes=tuple(notes))
