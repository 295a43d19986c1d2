"""Markdown sections for card details: the values and dates used, context, data quality."""

from __future__ import annotations

import re

from ..chart.facts import Analyte, LabResult, Problem
from ..knowledge.clinical import ClinicalKnowledge
from ..rules.assessment import B12Assessment
from ..rules.labs import describe
from ..rules.medicines import FolicAcidOrder

ANALYTE_NAMES = {
    Analyte.B12_TOTAL: "Serum B12", Analyte.B12_ACTIVE: "Active B12", Analyte.MMA: "MMA",
    Analyte.HOMOCYSTEINE: "Homocysteine", Analyte.HAEMOGLOBIN: "Haemoglobin", Analyte.MCV: "MCV",
    Analyte.PLATELETS: "Platelets", Analyte.EGFR: "eGFR", Analyte.FOLATE: "Serum folate",
}
TEST_NAMES = {Analyte.MMA: "MMA", Analyte.B12_ACTIVE: "active B12", Analyte.B12_TOTAL: "serum B12"}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()#<>|~])")


def escape_markdown(text: str) -> str:
    """Return EHR text safe to place in card markdown: specials backslash-escaped, one line.

    Why: condition and medication names, reported values and notes come from the chart; a
    "[link](...)", "<tag>" or "**" in them must neither inject links nor break the card's layout.

    >>> print(escape_markdown("B12 <100 [see](x)"))
    B12 \\<100 \\[see\\]\\(x\\)
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _section(title: str, lines: list[str]) -> str:
    return f"**{title}**\n" + "\n".join(f"- {line}" for line in lines) if lines else ""


def _lab(result: LabResult, why: str | None = None) -> str:
    text = f"{ANALYTE_NAMES[result.analyte]} {describe(result, quote=escape_markdown)}"
    text += f" ({why})" if why else ""
    return text + (f" - {result.source_ref}" if result.source_ref else "")


def _problem(problem: Problem) -> str:
    since = f", since {problem.onset.isoformat()}" if problem.onset else ""
    ref = f" - {escape_markdown(problem.source_ref)}" if problem.source_ref else ""
    return f"{escape_markdown(problem.display)}{since}{ref}"


def findings(a: B12Assessment, kb: ClinicalKnowledge) -> str:
    """The results that decided the status, with their dates and thresholds."""
    s = a.status
    lines = [_lab(m.result, m.explanation) for m in (s.total, s.active) if m is not None]
    if s.mma is not None:
        lines.append(_lab(s.mma.result, s.mma.explanation))
    if s.renal.egfr is not None:
        lines.append(_lab(s.renal.egfr))
    lines += [f"{escape_markdown(u.display)}: B12 replacement since {u.start or 'an unrecorded date'} - "
              f"{escape_markdown(u.source_ref)}" for u in s.therapy]
    if not lines:
        lines.append(f"No usable B12 result in the last {kb.durations.lab_lookback.months} months")
    return _section(f"Results used - {s.reason}", lines)


def context(a: B12Assessment) -> str:
    """Older results of the B12 markers: context only, they do not decide."""
    lines = []
    for pick in a.status.picks:
        for result in pick.context[:3]:
            stale = " - older than the lookback, context only" if result.issues else ""
            lines.append(_lab(result) + stale)
    return _section("Earlier results (context)", lines)


def triggers(a: B12Assessment) -> str:
    """Neurological problems, signs, risk medicines, malabsorption and other risk factors."""
    lines = [f"Neurological: {_problem(p)}" for p in a.neuro.problems]
    lines += [f"Malabsorption cause: {_problem(p)}" for p in a.malabsorption.problems]
    lines += [f"On the problem list: {_problem(p)}" for p in a.recorded_deficiency.problems]
    h = a.haematology
    if h.macrocytosis is not None:
        lines.append(f"Macrocytosis: {_lab(h.macrocytosis)}")
    if h.anaemia is not None:
        lines.append(f"Anaemia ({h.anaemia_by}): {_lab(h.anaemia)}")
    for r in a.risk_medicines:
        duration = f"{r.days_taken} days" if r.days_taken is not None else "duration unknown"
        rule = f"counts after {r.min_months} months" if r.min_months else "any current use counts"
        state = "current" if r.use.active else f"stopped {r.use.end or ''}".strip()
        extra = f"; {r.note}" if r.note else ""
        if r.earlier_refs:
            earlier = ", ".join(escape_markdown(ref) for ref in r.earlier_refs)
            extra += f"; one course since {r.course_start} with earlier prescriptions {earlier}"
        lines.append(f"{r.label} ({escape_markdown(r.use.display)}), {state}, {duration} ({rule}{extra}) - "
                     f"{escape_markdown(r.use.source_ref)}")
    risks = a.other_risks
    if risks.older_than_threshold:
        lines.append(f"Age {risks.age_years}")
    lines += [f"Risk factor: {_problem(p)}" for p in risks.problems]
    if a.stale_low_b12 is not None:
        lines.append(f"Earlier deficient result: {_lab(a.stale_low_b12)}")
    return _section("Risk factors and signs", lines)


def notes(a: B12Assessment, kb: ClinicalKnowledge) -> str:
    """Data-quality notes: comparators, molar reports, unusable or missing data."""
    s = a.status
    minimum = kb.thresholds.oral_b12_therapy_min_mg_per_day
    lines = [escape_markdown(m.note) for m in (s.total, s.active) if m is not None and m.note]
    lines += [f"{escape_markdown(u.display)} ({escape_markdown(u.source_ref)}): below {minimum.value:g} "
              f"{minimum.unit} or no stated dose, not counted as replacement" for u in a.low_dose_b12]
    lines += [escape_markdown(note) for note in a.notes]
    return _section("Data quality", lines)


def renal(a: B12Assessment) -> str:
    """The renal caveat sentence, when it applies (§3)."""
    r = a.status.renal
    if not r.applies:
        return ""
    evidence = [_lab(r.egfr)] if r.egfr is not None else []
    evidence += [_problem(p) for p in r.ckd_problems]
    # Why: §3 caveat suggests active B12; once it is on file, point to it rather than order it again.
    advice = ("active B12 is the better test." if a.status.active is None
              else "rely on the active B12 result instead.")
    return ("**Renal impairment:** " + "; ".join(evidence) +
            ". MMA rises in renal impairment, so a raised MMA does not establish deficiency here; " + advice)


def regimen(a: B12Assessment, kb: ClinicalKnowledge, key: str) -> str:
    """The regimen in words, with malabsorption and ileal-resection advice when relevant."""
    lines = [kb.regimens[key].summary_text + "."]
    if a.malabsorption.present:
        lines.append("A malabsorption cause is on record: intramuscular only, lifelong.")
    if a.ileal_resection.present:
        lines.append(kb.regimens["hydroxocobalamin_ileal_resection"].summary_text + " (seed 002).")
    return " ".join(lines)


def orders(found: tuple[FolicAcidOrder, ...]) -> str:
    """The folic acid drafts that triggered the card."""
    lines = [f"{escape_markdown(o.use.display)}: {o.reason} - {escape_markdown(o.use.source_ref)}" for o in found]
    return _section("Folic acid order(s)", lines)


def next_test(a: B12Assessment) -> str:
    tests = a.status.next_tests or (Analyte.MMA,)
    return " and ".join(TEST_NAMES[t] for t in tests)


def tidy(markdown: str) -> str:
    """Collapse the blank lines left by empty sections."""
    return re.sub(r"\n{3,}", "\n\n", markdown).strip()
