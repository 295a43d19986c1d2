"""Recognise CodeableConcepts through the value sets: by code, and by text where that is safe."""

from __future__ import annotations

import functools

from cds_service.knowledge import Knowledge, normalise_text

from .fhir_types import codings, concept_texts


def code_pairs(concept: object) -> tuple[tuple[str, str], ...]:
    """Return (system, code) of each coding of a CodeableConcept that has a code, as :func:`codings` reads
    them (stripped; "" when there is no system).

    A tuple of strings: what the readers that run once per resource key their remembered answers on.
    """
    if not isinstance(concept, dict):
        return ()
    pairs = []
    items = concept.get("coding")  # as_items, in line: once per Observation, three times
    for coding in items if isinstance(items, list) else (items,) if isinstance(items, dict) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and (code := code.strip()):  # as_str, inlined: once per Observation, twice
            system = coding.get("system")
            pairs.append((system.strip() if isinstance(system, str) else "", code))
    return tuple(pairs)


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


def match_problem_concept(kb: Knowledge, concept: object, prefix: str) -> dict[str, str]:
    """Return {value-set id: evidence} for a problem code: codes as sent, text only in context.

    Why: B12-RULES.md §4 counts the patient's own problems. Problem-list text says "no
    neuropathy", "?neuropathy", "neuropathy screening negative" or "FH: pernicious anaemia";
    a synonym there is not the problem (valuesets.json ``textContext``). Codes are unaffected.
    """
    found = match_codes(kb, concept, prefix)
    rules = kb.text_context
    for text in concept_texts(concept):
        plain = normalise_text(text)
        if rules.is_family_history(plain):
            continue
        for match in kb.match_text_any_order(plain, prefix):
            if not rules.is_negated(plain, match.start, match.end):
                found.setdefault(match.value_set, match.evidence)
    return found


def mentions_family_history(kb: Knowledge, concepts: list[object]) -> bool:
    """True when any of ``concepts`` (a Condition's code and categories) marks a relative's problem."""
    return any(_family_history(kb, tuple(codings(c)), tuple(concept_texts(c))) for c in concepts)


def family_history_read(kb: Knowledge, codes: tuple[tuple[str, str, str], ...], texts: tuple[str, ...]) -> bool:
    """:func:`mentions_family_history` of one concept already read (its ``codings`` and ``concept_texts``)."""
    return _family_history(kb, codes, texts)


@functools.lru_cache(maxsize=4096)  # per concept as read (codings and words): the same come back every call
def _family_history(kb: Knowledge, codes: tuple[tuple[str, str, str], ...], texts: tuple[str, ...]) -> bool:
    """:func:`mentions_family_history` for one concept, given its codings and words."""
    family_codes = _family_codes(kb)
    if any((kb.canonical_system(s), c) in family_codes for s, c, _ in codes):
        return True
    return any(kb.text_context.is_family_history(normalise_text(t)) for t in texts)


@functools.lru_cache(maxsize=8)
def _family_codes(kb: Knowledge) -> frozenset[tuple[str, str]]:
    """The family-history codes (canonical system, code), gathered once per knowledge object."""
    return frozenset((kb.canonical_system(c.system), c.code) for c in kb.text_context.spec.familyHistoryCodes)
