"""Where a B12 marker falls against the NICE NG239 bands (B12-RULES.md §2-§3)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import StrEnum

from ..chart.facts import Comparator, LabResult
from ..knowledge import Knowledge
from .labs import known_above, known_below


class Band(StrEnum):
    """A total or active B12 result against its thresholds."""

    LOW = "low"  # deficient
    INDETERMINATE = "indeterminate"
    NORMAL = "normal"  # deficiency unlikely


_CAUTION = {Band.LOW: 0, Band.INDETERMINATE: 1, Band.NORMAL: 2}


@dataclass(frozen=True)
class MarkerReading:
    """A B12 result, the band it falls in, and the threshold that placed it there."""

    result: LabResult
    band: Band
    explanation: str  # "below 180 ng/L", "180-350 ng/L: indeterminate"
    note: str | None = None  # why a comparator or a molar report changed the reading


@dataclass(frozen=True)
class MmaReading:
    """An MMA result against the lab's upper limit (or the default)."""

    result: LabResult
    raised: bool | None  # None: a comparator leaves it unclear ("<0.5" with limit 0.40)
    limit: float
    limit_from_lab: bool
    explanation: str


def band_of(result: LabResult, low_below: float, normal_above: float) -> Band:
    """Place a value in a band only when the comparator allows certainty.

    Why (b12-cds judgement): a bound that straddles a threshold (``<200`` ng/L may be
    below or above 180) is read as INDETERMINATE - never reassuring, never a diagnosis.
    """
    if known_below(result, low_below):
        return Band.LOW
    if known_above(result, normal_above):
        return Band.NORMAL
    return Band.INDETERMINATE


def total_b12_reading(result: LabResult, kb: Knowledge) -> MarkerReading:
    """Band a total B12 (canonical ng/L), honouring the molar thresholds for pmol/L reports.

    Why: NICE pairs 180 ng/L with 133 pmol/L, but 133 x 1.355 = 180.2 ng/L. A result the
    lab reported in pmol/L is also judged in its own unit (133/258 pmol/L) and the more
    cautious band wins, so 132.9 pmol/L (180.08 ng/L) is still deficient.
    """
    t = kb.thresholds
    low, high = t.b12_total_deficient_below.value, t.b12_total_normal_above.value
    band = band_of(result, low, high)
    explanation = _explain(band, low, high, t.b12_total_deficient_below.unit)
    note = _comparator_note(result, band)
    molar = _molar_band(result, kb)
    if molar is not None and _CAUTION[molar[0]] < _CAUTION[band]:
        band, molar_value = molar
        explanation = _explain(band, t.b12_total_molar_deficient_below.value, t.b12_total_molar_normal_above.value,
                               t.b12_total_molar_deficient_below.unit)
        note = f"reported {molar_value:g} pmol/L: judged against the molar threshold ({explanation})"
    return MarkerReading(result=result, band=band, explanation=explanation, note=note)


def total_b12_band(result: LabResult, kb: Knowledge) -> Band:
    """``total_b12_reading(result, kb).band``, without the explanation and note a card shows beside it."""
    t = kb.thresholds
    band = band_of(result, t.b12_total_deficient_below.value, t.b12_total_normal_above.value)
    molar = _molar_band(result, kb)
    return molar[0] if molar is not None and _CAUTION[molar[0]] < _CAUTION[band] else band


def _molar_band(result: LabResult, kb: Knowledge) -> tuple[Band, float] | None:
    """A total B12 the lab reported in pmol/L: its band against the molar thresholds, and its value in pmol/L."""
    if not _reported_molar(result, kb) or result.value is None:
        return None
    t = kb.thresholds
    # Undo the chart's conversion, no float noise.
    molar_value = round(result.value / t.b12_molar_to_mass_factor.value, 6)
    band = band_of(_scaled(result, molar_value), t.b12_total_molar_deficient_below.value,
                   t.b12_total_molar_normal_above.value)
    return band, molar_value


def active_b12_reading(result: LabResult, kb: Knowledge) -> MarkerReading:
    """Band an active B12 (holotranscobalamin, pmol/L): < 25 low, 25-70 indeterminate, > 70 normal."""
    t = kb.thresholds
    low, high = t.b12_active_deficient_below.value, t.b12_active_normal_above.value
    band = band_of(result, low, high)
    return MarkerReading(result=result, band=band, explanation=_explain(band, low, high, "pmol/L"),
                         note=_comparator_note(result, band))


def mma_reading(result: LabResult, kb: Knowledge) -> MmaReading:
    """Is MMA above the lab's upper limit (else the default 0.40 umol/L)? Equal is not above."""
    from_lab = result.reference_high is not None
    limit = result.reference_high if from_lab else kb.thresholds.mma_upper_limit_default.value
    if known_above(result, limit):
        raised: bool | None = True
    elif _at_most(result, limit):
        raised = False
    else:
        raised = None  # Why: "<0.5" against 0.40 could be either: it decides nothing
    where = "lab upper limit" if from_lab else "default upper limit"
    word = {True: "above", False: "not above", None: "unclear against"}[raised]
    return MmaReading(result=result, raised=raised, limit=limit, limit_from_lab=from_lab,
                      explanation=f"{word} the {where} {limit:g} umol/L")


def _at_most(result: LabResult, limit: float) -> bool:
    return result.value is not None and result.comparator in (
        Comparator.EQ, Comparator.LT, Comparator.LE) and result.value <= limit


def _reported_molar(result: LabResult, kb: Knowledge) -> bool:
    return result.code == kb.b12_total_molar_loinc.code or "pmol" in result.reported.lower()


def _scaled(result: LabResult, value: float) -> LabResult:
    return replace(result, value=value)


@functools.lru_cache(maxsize=64)
def _explain(band: Band, low: float, high: float, unit: str) -> str:
    # Why remembered: two or three bands a threshold pair, and a reading is made for every B12 marker of a call.
    if band is Band.LOW:
        return f"below {low:g} {unit}"
    if band is Band.NORMAL:
        return f"above {high:g} {unit}"
    return f"{low:g}-{high:g} {unit}: indeterminate"


def _comparator_note(result: LabResult, band: Band) -> str | None:
    if result.comparator is Comparator.EQ or band is not Band.INDETERMINATE:
        return None
    return (f"reported as {result.reported or result.comparator.value}: the true value may lie on either "
            "side of a threshold, so it is read as indeterminate")
