"""B12 status in the order of B12-RULES.md §3."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ..chart.facts import Analyte, Chart, LabResult, MedicationUse
from ..knowledge import Knowledge, load_knowledge
from .labs import LabPick, known_above, latest_usable
from .markers import Band, MarkerReading, MmaReading, active_b12_reading, mma_reading, total_b12_reading
from .renal import RenalCaveat, renal_caveat
from .therapy import active_b12_replacement


class B12StatusCode(StrEnum):
    """B12-RULES.md §3, most decisive first."""

    ON_TREATMENT = "on-treatment"
    DEFICIENT = "deficient"
    INDETERMINATE = "indeterminate"
    NOT_DEFICIENT = "not-deficient"
    NOT_TESTED = "not-tested"


class DeficiencyBasis(StrEnum):
    """Why DEFICIENT was decided (§3.2); functional deficiency is a basis, not a separate status.

    Why a flag: §3 lists all three under "deficient" and the §5 tables key on "deficient".
    PROBABLE_FUNCTIONAL is not "confirmed" for the pregnancy downgrade (§5).
    """

    LOW_TOTAL_B12 = "low-total-b12"
    LOW_ACTIVE_B12 = "low-active-b12"
    FUNCTIONAL = "functional"  # indeterminate B12 + raised MMA
    PROBABLE_FUNCTIONAL = "probable-functional"  # total B12 350-500 ng/L + raised MMA


_RULE_TAG = re.compile(r"\s*\((§[^)]*)\)$")
_TOTAL, _ACTIVE, _MMA = Analyte.B12_TOTAL, Analyte.B12_ACTIVE, Analyte.MMA

# How far each status is from reassurance; used by tests ("lower B12 never milder").
SEVERITY = {B12StatusCode.NOT_DEFICIENT: 0, B12StatusCode.INDETERMINATE: 1, B12StatusCode.DEFICIENT: 2}


@dataclass(frozen=True)
class B12Status:
    """The decided status with every result it used."""

    code: B12StatusCode
    basis: DeficiencyBasis | None
    total: MarkerReading | None
    active: MarkerReading | None
    mma: MmaReading | None
    renal: RenalCaveat
    therapy: tuple[MedicationUse, ...]
    next_tests: tuple[Analyte, ...]  # what to order next (MMA, or active B12 under the renal caveat)
    picks: tuple[LabPick, ...]  # per analyte: decisive result, context, notes
    reason: str  # one line in a clinician's words: what decided ("total B12 below 180 ng/L")
    rule: str = ""  # the B12-RULES.md §3 item that decided, for reviewers and logs (never card text)

    @classmethod
    def of(cls, **fields: object) -> B12Status:
        """Return ``B12Status(**fields)``, every field given, without the frozen dataclass's ``__init__``.

        Why: as ``LabResult.of`` - that ``__init__`` sets the 11 fields one by one through
        ``object.__setattr__``; a status is built on every call (twice for metformin). The instance is the
        same and as frozen (``tests/test_rules_fast_paths.py``).
        """
        status = object.__new__(cls)
        status.__dict__.update(fields)
        return status

    @property
    def confirmed_deficiency(self) -> bool:
        """Deficiency established by a low B12 or a raised MMA, not merely probable."""
        return self.code is B12StatusCode.DEFICIENT and self.basis is not DeficiencyBasis.PROBABLE_FUNCTIONAL

    @property
    def unresolved(self) -> bool:
        """Indeterminate with no further test to suggest (renal caveat, active B12 already borderline)."""
        return self.code is B12StatusCode.INDETERMINATE and not self.next_tests

    @property
    def stale_results(self) -> tuple[LabResult, ...]:
        """Newest out-of-lookback result per analyte (shown as "not tested recently")."""
        return tuple(p.stale_latest for p in self.picks if p.stale_latest is not None)


def b12_status(chart: Chart, kb: Knowledge | None = None, *, lookback_months: int | None = None) -> B12Status:
    """Decide B12 status in the §3 order: on treatment, deficient, indeterminate, not deficient, untested.

    ``lookback_months`` judges over a rule's own window (a monitoring interval) instead of §2's 12 months.
    """
    kb = kb or load_knowledge()
    # Why three calls written out, the analytes read once (issue #12): a generator over the members, each read off
    # the enum class (slow in Python 3.11), with the window passed as **kwargs, cost more than the picks of
    # analytes with no result on the chart.
    total_pick = latest_usable(chart, _TOTAL, kb, lookback_months=lookback_months)
    active_pick = latest_usable(chart, _ACTIVE, kb, lookback_months=lookback_months)
    mma_pick = latest_usable(chart, _MMA, kb, lookback_months=lookback_months)
    picks = (total_pick, active_pick, mma_pick)
    total = total_b12_reading(total_pick.latest, kb) if total_pick.latest else None
    active = active_b12_reading(active_pick.latest, kb) if active_pick.latest else None
    mma = mma_reading(mma_pick.latest, kb) if mma_pick.latest else None
    renal = renal_caveat(chart, kb, lookback_months=lookback_months)
    therapy = active_b12_replacement(chart, kb)
    base = {"total": total, "active": active, "mma": mma, "renal": renal, "therapy": therapy, "picks": picks}

    def status(code: B12StatusCode, reason: str, basis: DeficiencyBasis | None = None,
               next_tests: tuple[Analyte, ...] = ()) -> B12Status:
        text, rule = _without_rule_tag(reason)
        return B12Status.of(code=code, basis=basis, next_tests=next_tests, reason=text, rule=rule, **base)

    if therapy:
        # Why: §3.1 - values drawn after replacement began are not diagnostic.
        return status(B12StatusCode.ON_TREATMENT, "B12 replacement on record (§3.1)")
    if total is None and active is None:
        return _mma_alone(mma, renal, status, kb)
    t = kb.thresholds
    if total is not None and total.band is Band.LOW:
        return status(B12StatusCode.DEFICIENT, f"total B12 below {t.b12_total_deficient_below.value:g} ng/L (§3.2)",
                      DeficiencyBasis.LOW_TOTAL_B12)
    if active is not None and active.band is Band.LOW:
        return status(B12StatusCode.DEFICIENT, f"active B12 below {t.b12_active_deficient_below.value:g} pmol/L (§3.2)",
                      DeficiencyBasis.LOW_ACTIVE_B12)
    return _judge_with_mma(total, active, mma, renal, status, kb)


@functools.lru_cache(maxsize=256)
def _without_rule_tag(reason: str) -> tuple[str, str]:
    """Split "... (§3.2)" into the reason and "B12-RULES.md §3.2" (a few dozen reasons: remembered).

    Why: B12-RULES.md §9 - card text cites public sources only; the §3 item moves to ``rule``.
    """
    match = _RULE_TAG.search(reason)
    return _RULE_TAG.sub("", reason), f"B12-RULES.md {match.group(1)}" if match else ""


def _mma_alone(mma: MmaReading | None, renal: RenalCaveat, status: Callable[..., B12Status],
               kb: Knowledge) -> B12Status:
    """No usable B12: an MMA alone (§7) - raised is indeterminate, normal makes deficiency unlikely.

    Why: §7 "MMA without any B12 result". A raised MMA under the renal caveat, or one a comparator
    leaves unclear, settles nothing: B12 itself has to be measured (§3.5 not tested).
    """
    if mma is not None and mma.raised is True and not renal.applies:
        return status(B12StatusCode.INDETERMINATE, "raised MMA with no B12 result (§7)",
                      next_tests=(Analyte.B12_TOTAL,))
    if mma is not None and mma.raised is False:
        return status(B12StatusCode.NOT_DEFICIENT, "normal MMA with no B12 result: deficiency unlikely (§7)")
    months = kb.durations.lab_lookback.months
    return status(B12StatusCode.NOT_TESTED, f"no usable total or active B12 result in {months} months (§3.5)",
                  next_tests=(Analyte.B12_TOTAL,))


def _judge_with_mma(total: MarkerReading | None, active: MarkerReading | None, mma: MmaReading | None,
                    renal: RenalCaveat, status: Callable[..., B12Status], kb: Knowledge) -> B12Status:
    """§3.2-§3.4 once no marker is frankly low: MMA settles the indeterminate band."""
    mma_raised = mma is not None and mma.raised is True
    mma_normal = mma is not None and mma.raised is False
    # Why: §3 renal caveat - with eGFR < 30 / CKD 4-5 a raised MMA does not establish
    # deficiency; active B12 is the test that still discriminates.
    second_line = () if active is not None else (Analyte.B12_ACTIVE,)
    if any(m is not None and m.band is Band.INDETERMINATE for m in (total, active)):
        if mma_raised and not renal.applies:
            return status(B12StatusCode.DEFICIENT,
                          "indeterminate B12 with a raised MMA: functional deficiency (§3.2)",
                          DeficiencyBasis.FUNCTIONAL)
        if mma_normal:
            return status(B12StatusCode.NOT_DEFICIENT, "indeterminate B12 with a normal MMA (§3.4)")
        if mma_raised and active is not None and active.band is Band.INDETERMINATE:
            # Why (b12-cds judgement): MMA cannot be read (§3 renal caveat) and the test the caveat
            # points to, active B12, is itself borderline: no further test in the specification
            # settles it, so no test is suggested and the card says so (unresolved).
            return status(B12StatusCode.INDETERMINATE,
                          "indeterminate B12; a raised MMA is not diagnostic in renal impairment and active B12 "
                          "is also borderline (§3 caveat)")
        if mma_raised:
            return status(B12StatusCode.INDETERMINATE,
                          "indeterminate B12; a raised MMA is not diagnostic in renal impairment (§3 caveat)",
                          next_tests=second_line)
        next_tests = (Analyte.B12_ACTIVE,) if renal.applies and active is None else (Analyte.MMA,)
        return status(B12StatusCode.INDETERMINATE, "indeterminate B12 and no MMA result (§3.3)",
                      next_tests=next_tests)
    if not mma_raised:
        return status(B12StatusCode.NOT_DEFICIENT, "B12 above the indeterminate range, MMA not raised (§3.4)")
    functional_upper = kb.thresholds.b12_total_functional_upper.value
    # Why: ">400 ng/L" may still lie in the 350-500 band; cautious reading keeps it there.
    in_functional_band = total is not None and not known_above(total.result, functional_upper)
    band = f"{kb.thresholds.b12_total_normal_above.value:g}-{functional_upper:g} ng/L"
    if in_functional_band and not renal.applies and active is not None and active.band is Band.NORMAL:
        # Why: §3.4 - active B12 > 70 pmol/L means not deficient; the raised MMA points to another
        # cause, and "probable functional" (§3.2) applies only without a usable normal active B12.
        return status(B12StatusCode.NOT_DEFICIENT,
                      f"total B12 {band} with raised MMA, but active B12 normal: not deficient (§3.4)")
    if in_functional_band and not renal.applies:
        # Why: §3.2 - up to half (001) or 5-10% (004) of "normal" B12 levels hide metabolic deficiency.
        return status(B12StatusCode.DEFICIENT, f"B12 {band} and raised MMA: probable functional (§3.2)",
                      DeficiencyBasis.PROBABLE_FUNCTIONAL)
    if active is not None and active.band is Band.NORMAL:
        # Why: active B12 above 70 pmol/L with a raised MMA points to another cause of the MMA.
        return status(B12StatusCode.NOT_DEFICIENT, "active B12 normal; raised MMA has another cause (§3.4)")
    # Why (b12-cds judgement): §3.4 calls B12 "not deficient" only when MMA is not raised.
    # A raised MMA above the functional band (or with renal impairment) is discordant: ask
    # for active B12 rather than fall silent.
    return status(B12StatusCode.INDETERMINATE,
                  "normal B12 but a raised MMA: results disagree (§3.4)", next_tests=second_line)
