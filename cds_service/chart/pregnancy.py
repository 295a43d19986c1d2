"""Positive pregnancy tests -> pregnancy Problems (B12-RULES.md §7, "current pregnancy").

A pregnancy status observation (LOINC 82810-3) answered "pregnant", or a urine hCG (2106-3)
answered "positive", is read as a pregnancy dated on the day of the test; the rules decide
whether it is recent enough to be current. Only final results count; an answer that is
negated ("not pregnant", "negative") never does.
"""

from __future__ import annotations

import functools

from cds_service.knowledge import Knowledge, normalise_text

from .elements import unreadable, unreadable_notes
from .facts import Problem, ProblemCategory
from .fhir_types import JSON, as_items, as_str, concept_label, concept_texts, resource_ref
from .labs import USABLE_STATUSES, effective_date, observation_codes
from .matching import code_pairs, match_codes

TEST_SET, POSITIVE_SET = "obs_pregnancy_test", "obs_pregnancy_positive"


def _positive(kb: Knowledge, resource: JSON) -> str | None:
    """Return how the result reads as positive ("loinc:LA15173-0", "text:pregnant"), or None."""
    concepts = [resource.get("valueCodeableConcept"), *as_items(resource.get("interpretation"))]
    for concept in concepts:
        found = match_codes(kb, concept, POSITIVE_SET)
        if found:
            return found[POSITIVE_SET]
    texts = [t for c in concepts for t in concept_texts(c)] + [as_str(resource.get("valueString")) or ""]
    for text in map(normalise_text, texts):
        for match in kb.match_text(text, POSITIVE_SET):
            if not kb.text_context.is_negated(text, match.start, match.end) and "negative" not in text:
                return match.evidence
    return None


def read_pregnancy_test(resource: object, kb: Knowledge, pairs: tuple[tuple[str, str], ...] | None = None,
                        ) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return a pregnancy Problem for a positive, final pregnancy test, and chart notes (``pairs``: its code's
    ``code_pairs``, when already read)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return (), ()
    if not _is_test(kb, code_pairs(resource.get("code")) if pairs is None else pairs):
        return (), ()
    notes = unreadable_notes(resource, unreadable(resource))
    evidence = _positive(kb, resource)
    if evidence is None or as_str(resource.get("status")) not in USABLE_STATUSES:
        return (), notes
    when = effective_date(resource)
    answer = concept_label(resource.get("valueCodeableConcept")) or "positive"
    problem = Problem(category=ProblemCategory.PREGNANCY, display=f"{concept_label(resource.get('code'))}: {answer}",
                      clinical_status=None, verification_status=None, onset=when, active=True,
                      source_ref=resource_ref(resource), matched_by=evidence)
    return (problem,), notes


@functools.lru_cache(maxsize=4096)  # per set of codings: every Observation is asked; bounded, as requests vary
def _is_test(kb: Knowledge, coded: tuple[tuple[str, str], ...]) -> bool:
    """True when a coding of an Observation's code is in the pregnancy test set (``match_codes``, remembered)."""
    return any(kb.match_code(system, code, TEST_SET) for system, code in coded)


def read_pregnancy_tests(observations: list[JSON], kb: Knowledge,
                         pairs: list[tuple[tuple[str, str], ...]] | None = None,
                         ) -> tuple[tuple[Problem, ...], tuple[str, ...]]:
    """Return the pregnancy Problems and chart notes of a list of Observations (``pairs``: ``observation_codes``)."""
    problems: list[Problem] = []
    notes: list[str] = []
    for resource, coded in zip(observations, observation_codes(observations) if pairs is None else pairs, strict=True):
        if not _is_test(kb, coded):  # read_pregnancy_test's own first answer, asked here: nearly every one is not
            continue
        found, found_notes = read_pregnancy_test(resource, kb, coded)
        problems += found
        notes += found_notes
    return tuple(problems), tuple(notes)
