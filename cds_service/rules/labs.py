"""Which laboratory result decides, and what a reported value is known to be (B12-RULES.md §2)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from ..chart.facts import Analyte, Chart, Comparator, DataIssue, LabResult
from ..knowledge import Knowledge
from .dates import add_months

# For same-day duplicates, the value pointing toward deficiency decides (cautious tie-break).
_LOWER_IS_WORSE = frozenset({Analyte.B12_TOTAL, Analyte.B12_ACTIVE, Analyte.HAEMOGLOBIN, Analyte.FOLATE})

# How an unusable result is described on a card (plain words, not the enum's codes).
ISSUE_WORDS = {DataIssue.NOT_FINAL: "not final", DataIssue.ENTERED_IN_ERROR: "entered in error",
                DataIssue.NO_VALUE: "no value", DataIssue.NON_NUMERIC: "not a number",
                DataIssue.UNKNOWN_UNIT: "unit not recognised", DataIssue.NO_DATE: "no date",
                DataIssue.STALE: "too old"}


@dataclass(frozen=True)
class LabPick:
    """The result that decides for one analyte, with the others as context.

    ``latest`` is the most recent usable result within the lookback (None if there is
    none); ``context`` holds every other dated result of the analyte, newest first,
    stale ones marked ``DataIssue.STALE``; ``notes`` says why results were set aside;
    ``future_dated`` names the results set aside for a date after today (a card says so beside them).
    """

    analyte: Analyte
    latest: LabResult | None
    context: tuple[LabResult, ...] = ()
    notes: tuple[str, ...] = ()
    future_dated: frozenset[str] = frozenset()  # source_ref of each

    @classmethod
    def of(cls, **fields: object) -> LabPick:
        """Return ``LabPick(**fields)``, every field given, without the frozen dataclass's ``__init__``.

        Why: as ``LabResult.of`` - that ``__init__`` sets the 5 fields one by one through
        ``object.__setattr__``; a pick is built for each B12 marker on the chart, twice for metformin. The
        instance is the same and as frozen (``tests/test_rules_fast_paths.py``).
        """
        pick = object.__new__(cls)
        pick.__dict__.update(fields)
        return pick

    @property
    def stale_latest(self) -> LabResult | None:
        """The newest result that is unusable only because it is older than the lookback."""
        for result in self.context:
            if result.issues == (DataIssue.STALE,):
                return result
        return None


#: The pick of an analyte with no result on the chart (frozen, so one per analyte serves every call).
_NONE_ON_CHART = {analyte: LabPick(analyte=analyte, latest=None) for analyte in Analyte}


def lookback_start(chart: Chart, kb: Knowledge, months: int | None = None) -> date:
    """First day inside the lookback window (12 months, B12-RULES.md §2, unless a rule names its own)."""
    return add_months(chart.today, -(months or kb.durations.lab_lookback.months))


def mark_stale(result: LabResult, chart: Chart, kb: Knowledge) -> LabResult:
    """Return the result with ``STALE`` added when it predates the lookback.

    Why: B12-RULES.md §2 - older results give context but must not decide status;
    the chart layer leaves staleness to the rules because it depends on the rule's window.
    """
    return _marked(result, lookback_start(chart, kb))


def _marked(result: LabResult, start: date) -> LabResult:
    """:func:`mark_stale` with the lookback's first day already known (it is computed once per pick)."""
    if result.effective is None or result.effective >= start or DataIssue.STALE in result.issues:
        return result
    # Built directly (LabResult.of), not with dataclasses.replace: a long chart has thousands of stale results.
    r = result
    return LabResult.of(analyte=r.analyte, value=r.value, unit=r.unit, comparator=r.comparator, effective=r.effective,
                     status=r.status, reported=r.reported, reference_low=r.reference_low,
                     reference_high=r.reference_high, interpretation=r.interpretation,
                     issues=(*r.issues, DataIssue.STALE), source_ref=r.source_ref, code=r.code)


_EFFECTIVE = operator.attrgetter("effective")  # the newest first: the same order as a lambda, without its call


def latest_usable(chart: Chart, analyte: Analyte, kb: Knowledge, *, lookback_months: int | None = None) -> LabPick:
    """Pick the most recent usable result of ``analyte`` within the lookback (``lookback_months``: a
    rule's own window, e.g. a monitoring interval; the knowledge's 12 months otherwise)."""
    on_chart = chart.labs_of(analyte)
    if not on_chart:
        return _NONE_ON_CHART[analyte]  # nothing decides, nothing to note
    start = lookback_start(chart, kb, lookback_months)
    results = [_marked(r, start) for r in on_chart]
    notes: list[str] = []
    usable: list[LabResult] = []
    future: list[str] = []
    latest_allowed = _latest_allowed(chart, kb)
    for result in results:
        if result.usable and result.effective is not None and result.effective > latest_allowed:
            # Why: §7 - a result dated more than a day after today is a clock or entry error; it
            # never decides, and the card notes it (a day's grace absorbs time zones).
            notes.append(f"{_ref(result)} is dated in the future ({result.effective}); not used")
            future += [result.source_ref] if result.source_ref else []
        elif result.usable:
            usable.append(result)
        elif DataIssue.STALE not in result.issues:
            issues = ", ".join(ISSUE_WORDS.get(issue, issue.value) for issue in result.issues)
            shown = f": {result.reported}" if result.reported and result.reported != "no value" else ""
            notes.append(f"{_ref(result)} not used ({issues}){shown}")
    latest = _newest(usable, analyte)
    context = [r for r in results if r is not latest and r.effective is not None and r.value is not None]
    if len(context) > 1:  # Why: one earlier result (most charts) has no order to find
        context.sort(key=_EFFECTIVE, reverse=True)
    return LabPick.of(analyte=analyte, latest=latest, context=tuple(context), notes=tuple(notes),
                      future_dated=frozenset(future))


def latest_usable_result(chart: Chart, analyte: Analyte, kb: Knowledge, *,
                         lookback_months: int | None = None) -> LabResult | None:
    """Return ``latest_usable(...).latest``: the same result, for rules that read nothing else of the pick.

    Why a second way: the pick's context marks and sorts every other result of the analyte (a long chart
    has thousands of old blood counts); the result that decides needs none of that. The candidates are the
    same: usable, not older than the lookback (a stale result is never usable), not future-dated.
    """
    on_chart = chart.labs_of(analyte)
    if not on_chart:
        return None
    start = lookback_start(chart, kb, lookback_months)
    latest_allowed = _latest_allowed(chart, kb)
    usable = [r for r in on_chart
              if r.usable and (r.effective is None or start <= r.effective <= latest_allowed)]
    return _newest(usable, analyte)


def _latest_allowed(chart: Chart, kb: Knowledge) -> date:
    """The last day a result may be dated and still decide (a day's grace after today)."""
    return chart.today + timedelta(days=kb.tolerances.future_result_grace.days)


def _newest(usable: list[LabResult], analyte: Analyte) -> LabResult | None:
    """The most recent of ``usable``; on the same day, the value pointing toward deficiency."""
    if len(usable) < 2:
        return usable[0] if usable else None  # one candidate or none: nothing to order
    sign = 1 if analyte in _LOWER_IS_WORSE else -1
    usable.sort(key=lambda r: (r.effective, -sign * (r.value or 0.0)), reverse=True)
    return usable[0] if usable else None


# The comparators that make the reported number an upper bound (``<x``, ``<=x``) or a lower one (``>x``, ``>=x``).
# Why sets built once: reading an enum member off its class costs more than the comparison (Python 3.11).
_BOUNDED_ABOVE = frozenset({Comparator.LT, Comparator.LE})
_BOUNDED_BELOW = frozenset({Comparator.GT, Comparator.GE})


def value_bounds(result: LabResult) -> tuple[float, float]:
    """The interval the true value lies in, as (low, high); open ends are +-inf.

    A comparator makes the reported number a bound: ``<200`` lies in (-inf, 200).
    Strictness is kept apart in :func:`known_below` / :func:`known_above`.
    """
    value = result.value if result.value is not None else math.nan
    if result.comparator in _BOUNDED_ABOVE:
        return (-math.inf, value)
    if result.comparator in _BOUNDED_BELOW:
        return (value, math.inf)
    return (value, value)


def known_below(result: LabResult, limit: float) -> bool:
    """True only when the true value is certainly below ``limit``.

    Why: B12-RULES.md §2 says ``<x`` is below x. ``<200`` is therefore NOT known to be
    below 180 - it may be 190 - so it never counts as deficient on its own (the caller
    treats it as indeterminate and says so).
    """
    _, high = value_bounds(result)
    if result.comparator is Comparator.LT:
        return high <= limit
    return high < limit


def known_above(result: LabResult, limit: float) -> bool:
    """True only when the true value is certainly above ``limit`` (equal is not above)."""
    low, _ = value_bounds(result)
    if result.comparator is Comparator.GT:
        return low >= limit
    return low > limit


def describe(result: LabResult, quote: Callable[[str], str] = str) -> str:
    """Quote a result as the clinician will read it: "420 ng/L on 2026-03-02 (Observation/7)".

    :param quote: applied to the words that came from the lab as sent (reported value, a raw
        unit), e.g. a markdown escape; the rest is this service's own wording.
    """
    when = result.effective.isoformat() if result.effective else "undated"
    return f"{_quantity(result, quote)} on {when}"


def _quantity(result: LabResult, quote: Callable[[str], str]) -> str:
    if result.value is None:
        return quote(result.reported) if result.reported else "no value"
    comparator = "" if result.comparator is Comparator.EQ else result.comparator.value
    text = f"{comparator}{result.value:.4g} {result.unit}"  # canonical unit: our own words
    if result.reported and result.unit not in result.reported:
        text += f" (reported {quote(result.reported)})"  # converted by the chart: show what the lab sent
    return text


def _ref(result: LabResult) -> str:
    return result.source_ref or f"{result.analyte.value} result"
