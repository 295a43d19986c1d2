"""What the problem list and demographics say (B12-RULES.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..chart.facts import Chart, Problem, ProblemCategory
from ..knowledge import Knowledge
from .dates import add_months

NEUROLOGICAL = frozenset({
    ProblemCategory.NEUROPATHY, ProblemCategory.PARAESTHESIA, ProblemCategory.SUBACUTE_COMBINED_DEGENERATION,
    ProblemCategory.ATAXIA, ProblemCategory.COGNITIVE_IMPAIRMENT,
    # Why (b12-cds judgement): a neuropathy coded as purely motor is atypical for B12 (000) but
    # still a neurological disorder in which B12 "should be considered" (000): it counts here and
    # additionally raises the "consider other causes" card.
    ProblemCategory.MOTOR_NEUROPATHY,
})
MALABSORPTION = frozenset({
    ProblemCategory.PERNICIOUS_ANAEMIA, ProblemCategory.GASTRECTOMY, ProblemCategory.BARIATRIC_SURGERY,
    ProblemCategory.ILEAL_RESECTION,
    # Why (b12-cds judgement): §4 names Crohn's disease *of the ileum*; the facts do not carry the
    # site, so any Crohn's disease counts (the cautious reading: parenteral B12).
    ProblemCategory.CROHN_DISEASE, ProblemCategory.ATROPHIC_GASTRITIS, ProblemCategory.COELIAC_DISEASE,
})
# Why (b12-cds judgement): surgery and pernicious anaemia do not resolve; a "resolved" or
# "inactive" clinical status on them means history, so they count unless refuted.
IRREVERSIBLE = frozenset({ProblemCategory.PERNICIOUS_ANAEMIA, ProblemCategory.GASTRECTOMY,
                          ProblemCategory.BARIATRIC_SURGERY, ProblemCategory.ILEAL_RESECTION})
OTHER_RISK = frozenset({ProblemCategory.VEGAN_DIET, ProblemCategory.AUTOIMMUNE_DISEASE,
                        ProblemCategory.NITROUS_OXIDE_USE})
_NOT_TRUE = frozenset({"refuted", "entered-in-error"})
PURE_MOTOR = frozenset({ProblemCategory.MOTOR_NEUROPATHY})
ILEAL_RESECTION = frozenset({ProblemCategory.ILEAL_RESECTION})
RECORDED_DEFICIENCY = frozenset({ProblemCategory.B12_DEFICIENCY})


@dataclass(frozen=True)
class ProblemFinding:
    """Whether a clinical idea is present, and the problems that show it."""

    present: bool
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class RiskFactors:
    """§4 "other risk factors": age over 60, vegan diet, autoimmune disease, nitrous oxide."""

    older_than_threshold: bool
    age_years: int | None
    problems: tuple[Problem, ...]

    @property
    def present(self) -> bool:
        return self.older_than_threshold or bool(self.problems)


def _counts(problem: Problem) -> bool:
    if problem.category in IRREVERSIBLE:
        return problem.active or problem.verification_status not in _NOT_TRUE
    return problem.active


_ABSENT = ProblemFinding(present=False)  # frozen: one serves every finding that found nothing


def _finding(chart: Chart, categories: frozenset[ProblemCategory]) -> ProblemFinding:
    found = [p for p in chart.problems if p.category in categories and _counts(p)]
    return ProblemFinding(present=True, problems=tuple(found)) if found else _ABSENT


#: The findings an assessment reads off the problem list (``problem_findings``), each with its categories.
ASSESSED = {"neuro": NEUROLOGICAL, "pure_motor": PURE_MOTOR, "malabsorption": MALABSORPTION,
            "ileal_resection": ILEAL_RESECTION, "recorded_deficiency": RECORDED_DEFICIENCY, "other_risks": OTHER_RISK}
_ASSESSED_AS = {category: tuple(name for name, categories in ASSESSED.items() if category in categories)
                for category in ProblemCategory}


def problem_findings(chart: Chart) -> dict[str, ProblemFinding]:
    """Each finding of ``ASSESSED`` by name, as its own function gives it (``has_neurological_involvement``, ...).

    Why one pass (issue #12): the assessment asked for six findings of the same problem list, and each read
    the whole list; here each problem is looked at once, and the problems keep the list's order.
    """
    found: dict[str, list[Problem]] = {}
    for problem in chart.problems:
        names = _ASSESSED_AS[problem.category]
        if names and _counts(problem):
            for name in names:
                found.setdefault(name, []).append(problem)
    return {name: ProblemFinding(present=True, problems=tuple(found[name])) if name in found else _ABSENT
            for name in ASSESSED}


def has_neurological_involvement(chart: Chart) -> ProblemFinding:
    """Active neuropathy, paraesthesia, SCD, ataxia or cognitive impairment (§4)."""
    return _finding(chart, NEUROLOGICAL)


def has_pure_motor_neuropathy(chart: Chart) -> ProblemFinding:
    """A neuropathy coded as purely motor: atypical for B12, consider other causes (000)."""
    return _finding(chart, PURE_MOTOR)


def malabsorption_causes(chart: Chart) -> ProblemFinding:
    """Causes that make oral B12 unreliable: parenteral, lifelong (§4; 002)."""
    return _finding(chart, MALABSORPTION)


def has_ileal_resection(chart: Chart) -> ProblemFinding:
    """Ileal resection: > 20 cm needs 1 mg IM monthly (002); the length is not in the facts."""
    return _finding(chart, ILEAL_RESECTION)


def recorded_b12_deficiency(chart: Chart) -> ProblemFinding:
    """B12 deficiency already on the problem list (a reason to test when no recent result)."""
    return _finding(chart, RECORDED_DEFICIENCY)


def is_pregnant(chart: Chart, kb: Knowledge) -> ProblemFinding:
    """A current pregnancy (§5 pregnancy downgrade, as §7 defines it).

    Why: §7 - an active pregnancy condition with onset (else recorded date) within the last
    42 weeks, or a positive pregnancy test within them; never one that has ended. Ectopic,
    tubal and molar pregnancies never reach this category (the chart drops them).
    """
    since = chart.today - timedelta(days=kb.tolerances.current_pregnancy.days)
    found = [p for p in chart.problems if p.category is ProblemCategory.PREGNANCY and p.active
             and not p.ended and (when := p.onset or p.recorded) is not None and since <= when]
    return ProblemFinding(present=True, problems=tuple(found)) if found else _ABSENT


def other_risk_factors(chart: Chart, kb: Knowledge, *, problems: ProblemFinding | None = None) -> RiskFactors:
    """Age over 60 and the risk problems of §4 (001); ``problems``: their finding, when already made.

    Why: "age > 60" is read as "past the 60th birthday" - on the birthday itself, not yet.
    """
    threshold_years = int(kb.thresholds.age_risk_above_years.value)
    birth = chart.patient.birth_date if chart.patient else None
    older = birth is not None and chart.today > add_months(birth, 12 * threshold_years)
    age = None
    if birth is not None:
        before_birthday = (chart.today.month, chart.today.day) < (birth.month, birth.day)
        age = chart.today.year - birth.year - before_birthday
    found = (problems or _finding(chart, OTHER_RISK)).problems
    return RiskFactors(older_than_threshold=older, age_years=age, problems=found)
