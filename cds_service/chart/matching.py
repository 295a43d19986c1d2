"""Recognise CodeableConcepts through the value sets: by code, and by text where that is safe."""

from __future__ import annotations

from cds_service.knowledge import Knowledge

from .fhir_types import codings, concept_texts


def match_codes(kb: Knowledge, concept: object, prefix: str) -> dict[str, str]:
    """Return {value-set id: evidence} for the concept's codings in sets starting with ``prefix``."""
    found: dict[str, str] = {}
    for system, code, _ in codings(concept):
        for match in kb.match_code(system, code, prefix):
            found.setdefault(match.value_set, match.evidence)
    return found


def match_words(kb: Knowledge, texts: list[str], prefix: str) -> dict[str, str]:
    """Return {value-set id: evidence} for whole-word synonyms found in any of ``texts``."""
    found: dict[str, str] = {}
    for text in texts:
        for match in kb.match_text(text, prefix):
            found.setdefault(match.value_set, match.evidence)
    return found


def match_concept(kb: Knowledge, concept: object, prefix: str) -> dict[str, str]:
    """Return {value-set id: evidence} by code and by text, codes first.

    Text is the safety net ARCHITECTURE.md asks for: uncoded entries, local codes, and codes
    marked unverified in the value sets still reach the rules through their words.
    """
    found = match_codes(kb, concept, prefix)
    for value_set, evidence in match_words(kb, concept_texts(concept), prefix).items():
        found.setdefault(value_set, evidence)
    return found
