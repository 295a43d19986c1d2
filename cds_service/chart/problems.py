"""Conditions and surgical Procedures -> Problem facts (B12-RULES.md §4)."""

from __future__ import annotations

import operator
from datetime import date
from typing import NamedTuple

from cds_service.knowledge import Knowledge
from cds_service.memo import BoundedMemo

from .elements import unreadable, unreadable_notes
from .facts import Problem, ProblemCategory
from .fhir_types import (
    JSON,
    as_items,
    codings,
    concept_label,
    concept_texts,
    first_code,
    parse_fhir_date,
    period_date,
    resource_ref,
)
from .matching import family_history_read, match_concept, match_problem_concept, mentions_family_history

_CATEGORY_NAMES = frozenset(c.value for c in ProblemCategory)
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
NOT_COUNTED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
# Surgery changes anatomy for good: a completed gastrectomy, bariatric operation or ileal
# resection is a lasting malabsorption cause (B12-RULES.md §4), so only these categories are
# read from Procedures.
SURGICAL = frozenset(
    {ProblemCategory.GASTRECTOMY, ProblemCategory.BARIATRIC_SURGERY, ProblemCategory.ILEAL_RESECTION}
)
# Categories whose presence lowers or weakens a card (pregnancy downgrade, renal caveat): when
# their status cannot be read they do not count, the cautious reading (B12-RULES.md §7).
LOWERING = frozenset({ProblemCategory.PREGNANCY, ProblemCategory.CKD_STAGE_4_5})
NOT_CURRENT_PREGNANCY = "problem_pregnancy_not_current"
_STATUS_ELEMENTS = ("clinicalStatus", "verificationStatus")


def categories(kb: Knowledge, concept: object) -> dict[ProblemCategory, str]:
    """Return {category: evidence} for a Condition or Procedure code, by code and by text.

    Remembered per knowledge and the codings and words of the concept (all that the matching reads):
    the same problems come back on every hook call for a patient, and the word matching is the costliest
    part of reading one. Bounded: requests bring arbitrary concepts.
    """
    return _categories_read(kb, concept, tuple(codings(concept)), tuple(concept_texts(concept)))


def _categories_read(kb: Knowledge, concept: object, codes: tuple[tuple[str, str, str], ...],
                     texts: tuple[str, ...]) -> dict[ProblemCategory, str]:
    """:func:`categories` of a concept whose codings and words are already read (``codes``, ``texts``)."""
    return dict(_CATEGORIES.get((kb, codes, texts), lambda: _categories(kb, concept)))  # a copy: the caller's own


_CATEGORIES: BoundedMemo[dict[ProblemCategory, str]] = BoundedMemo(4096)


def _categories(kb: Knowledge, concept: object) -> dict[ProblemCategory, str]:
    """:func:`categories` without the memory."""
    found = match_problem_concept(kb, concept, "problem_")
    if "problem_pregnancy" in found and NOT_CURRENT_PREGNANCY in match_concept(kb, concept, NOT_CURRENT_PREGNANCY):
        # Why: B12-RULES.md §7 - an ectopic, tubal or molar pregnancy, or one that has ended, is
        # never the pregnancy that lowers the folic-acid card.
        del found["problem_pregnancy"]
    return {
        ProblemCategory(vs.removeprefix("problem_")): evidence
        for vs, evidence in found.items()
        if vs.removeprefix("problem_") in _CATEGORY_NAMES
    }


def condition_counts(resource: JSON, clinical: str | None, verification: str | None) -> bool:
    """Return True when a Condition counts now.

    Why an absent clinicalStatus counts: FHIR R4 requires it on problem-list items, but many
    feeds (encounter diagnoses, older interfaces) omit it; a neuropathy on the list must not
    vanish for a missing field. An abatement date then marks it as over.
    """
    if verification in NOT_COUNTED_VERIFICATION:
        return False
    if clinical is None:
        return not any(map(_ABATEMENT, resource))
    return clinical in ACTIVE_CLINICAL


def read_condition(resource: object, kb: Knowledge) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return the Problems (one per category) of one Condition, and chart notes."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Condition":
        return (), ()
    clinical = first_code(resource.get("clinicalStatus"))
    verification = first_code(resource.get("verificationStatus"))
    # Why the code's codings and words are read once here: the categories, the family-history check and the
    # label each read them (a concept read four times a Condition, now once; the answers are the same).
    code = resource.get("code")
    codes, texts = tuple(codings(code)), tuple(concept_texts(code))
    found = _categories_read(kb, code, codes, texts)
    if not found or verification == "entered-in-error":
        return (), ()
    # Why: a family-history entry is a relative's problem, never the patient's (B12-RULES.md §4),
    # whatever its code; its category or displays ("Family history of ...", "FH: ...") say so.
    if family_history_read(kb, codes, texts) or mentions_family_history(kb, as_items(resource.get("category"))):
        return (), ()
    defects = unreadable(resource)
    onset = parse_fhir_date(resource.get("onsetDateTime")) or period_date(
        resource.get("onsetPeriod"), "start"
    )
    active = condition_counts(resource, clinical, verification)
    status_unread = any(key in defects for key in _STATUS_ELEMENTS)
    when = _When(onset, parse_fhir_date(resource.get("recordedDate")), any(map(_ABATEMENT, resource)))
    label = texts[0] if texts else codes[0][1] if codes else ""  # concept_label of the code, from its reading
    problems = tuple(
        _problem(resource, category, evidence, clinical, verification, when,
                 active and not (status_unread and category in LOWERING), label)
        for category, evidence in found.items()
    )
    return problems, unreadable_notes(resource, defects)


_ABATEMENT = operator.methodcaller("startswith", "abatement")  # a key of abatement[x]


def read_procedure(resource: object, kb: Knowledge) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return the Problems of one completed surgical Procedure, and chart notes."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Procedure":
        return (), ()
    found = {c: e for c, e in categories(kb, resource.get("code")).items() if c in SURGICAL}
    if not found or resource.get("status") != "completed":
        return (), ()
    performed = parse_fhir_date(resource.get("performedDateTime")) or period_date(
        resource.get("performedPeriod"), "start"
    )
    when = _When(performed, None, False)
    problems = tuple(_problem(resource, category, evidence, None, None, when, True)
                     for category, evidence in found.items())
    return problems, unreadable_notes(resource, unreadable(resource))


class _When(NamedTuple):  # a named tuple, not a frozen dataclass: one per problem resource read
    """A problem's dates: onset (or performed), recorded, and whether it has ended."""

    onset: date | None
    recorded: date | None
    ended: bool


def _problem(
    resource: JSON,
    category: ProblemCategory,
    evidence: str,
    clinical: str | None,
    verification: str | None,
    when: _When,
    active: bool,
    label: str | None = None,
) -> Problem:
    """Return the Problem of one category found in a resource (``label``: its code's, when already read)."""
    return Problem.of(  # every field, in order
        category=category,
        display=concept_label(resource.get("code")) if label is None else label,
        clinical_status=clinical,
        verification_status=verification,
        onset=when.onset,
        active=active,
        source_ref=resource_ref(resource),
        matched_by=evidence,
        recorded=when.recorded,
        ended=when.ended,
    )


def read_problems(
    conditions: list[JSON], procedures: list[JSON], kb: Knowledge
) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return Problem facts and chart notes from Conditions and Procedures."""
    problems: list[Problem] = []
    notes: list[str] = []
    for resource in conditions:
        found, found_notes = read_condition(resource, kb)
        problems += found
        notes += found_notes
    for resource in procedures:
        found, found_notes = read_procedure(resource, kb)
        problems += found
        notes += found_notes
    return tuple(problems), tuple(notes)
