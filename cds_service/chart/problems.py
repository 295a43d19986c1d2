"""Conditions and surgical Procedures -> Problem facts (B12-RULES.md §4)."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.procedure import Procedure

from cds_service.knowledge import Knowledge

from .facts import Problem, ProblemCategory
from .fhir_types import (
    JSON,
    as_list,
    concept_label,
    first_code,
    parse_fhir_date,
    period_date,
    resource_ref,
    unreadable_note,
    validation_problem,
)
from .matching import match_problem_concept, mentions_family_history

_CATEGORY_NAMES = frozenset(c.value for c in ProblemCategory)
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
NOT_COUNTED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
# Surgery changes anatomy for good: a completed gastrectomy, bariatric operation or ileal
# resection is a lasting malabsorption cause (B12-RULES.md §4), so only these categories are
# read from Procedures.
SURGICAL = frozenset(
    {ProblemCategory.GASTRECTOMY, ProblemCategory.BARIATRIC_SURGERY, ProblemCategory.ILEAL_RESECTION}
)


def categories(kb: Knowledge, concept: object) -> dict[ProblemCategory, str]:
    """Return {category: evidence} for a Condition or Procedure code, by code and by text."""
    found = match_problem_concept(kb, concept, "problem_")
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
        return not any(key.startswith("abatement") for key in resource)
    return clinical in ACTIVE_CLINICAL


def read_condition(resource: object, kb: Knowledge) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return the Problems (one per category) of one Condition, and chart notes."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Condition":
        return (), ()
    clinical = first_code(resource.get("clinicalStatus"))
    verification = first_code(resource.get("verificationStatus"))
    found = categories(kb, resource.get("code"))
    if not found or verification == "entered-in-error":
        return (), ()
    # Why: a family-history entry is a relative's problem, never the patient's (B12-RULES.md §4),
    # whatever its code; its category or displays ("Family history of ...", "FH: ...") say so.
    if mentions_family_history(kb, [resource.get("code"), *as_list(resource.get("category"))]):
        return (), ()
    problem = validation_problem(resource, Condition)
    if problem:
        return (), (unreadable_note(resource, problem),)
    onset = parse_fhir_date(resource.get("onsetDateTime")) or period_date(
        resource.get("onsetPeriod"), "start"
    )
    active = condition_counts(resource, clinical, verification)
    return _problems(resource, found, clinical, verification, onset, active), ()


def read_procedure(resource: object, kb: Knowledge) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return the Problems of one completed surgical Procedure, and chart notes."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Procedure":
        return (), ()
    found = {c: e for c, e in categories(kb, resource.get("code")).items() if c in SURGICAL}
    if not found or resource.get("status") != "completed":
        return (), ()
    problem = validation_problem(resource, Procedure)
    if problem:
        return (), (unreadable_note(resource, problem),)
    performed = parse_fhir_date(resource.get("performedDateTime")) or period_date(
        resource.get("performedPeriod"), "start"
    )
    return _problems(resource, found, None, None, performed, True), ()


def _problems(
    resource: JSON,
    found: dict[ProblemCategory, str],
    clinical: str | None,
    verification: str | None,
    onset: date | None,
    active: bool,
) -> tuple[Problem, ...]:
    """Return one Problem per category found in a resource."""
    display = concept_label(resource.get("code"))
    return tuple(
        Problem(
            category=category,
            display=display,
            clinical_status=clinical,
            verification_status=verification,
            onset=onset,
            active=active,
            source_ref=resource_ref(resource),
            matched_by=evidence,
        )
        for category, evidence in found.items()
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
