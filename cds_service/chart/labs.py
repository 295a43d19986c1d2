"""Observations -> LabResult facts (B12-RULES.md §2), units converted once.

Cheap first: an Observation is identified from its raw codes before anything else, and only
a relevant one is read further. Nothing validates the whole resource: the elements read here
are checked one by one (``elements.py``), so a defect elsewhere never hides a result (B12-RULES.md
§7). STALE is left to the rules, which own the lookback.
"""

from __future__ import annotations

import functools
from datetime import date

from cds_service.knowledge import Knowledge, UnitTable

from .elements import element_check, unreadable_notes, unreadable_of
from .facts import Analyte, DataIssue, Interpretation, LabResult
from .fhir_types import (
    JSON,
    as_items,
    as_str,
    concept_label,
    concept_texts,
    parse_fhir_date,
    period_date,
    resource_ref,
)
from .matching import code_pairs, match_words
from .quantities import measure, read_reference_range

LOINC = "http://loinc.org"
USABLE_STATUSES = frozenset({"final", "amended", "corrected"})  # B12-RULES.md §2
STATUS_ISSUES = {
    "registered": DataIssue.NOT_FINAL,
    "preliminary": DataIssue.NOT_FINAL,
    "cancelled": DataIssue.CANCELLED,
    "entered-in-error": DataIssue.ENTERED_IN_ERROR,
}


def identify(resource: JSON, kb: Knowledge, pairs: tuple[tuple[str, str], ...] | None = None,
             ) -> tuple[Analyte | None, str, str | None]:
    """Return (analyte, matched LOINC code, ambiguity note) from the raw Observation.code (``pairs``: its
    ``code_pairs``, when already read).

    Why text only when there is no LOINC coding at all: a LOINC code is the lab's own
    statement of what was measured, so a LOINC-coded Observation outside our value sets
    (e.g. "B12 binding capacity") must not be pulled in by a word in its name. Uncoded or
    locally coded results are matched by name, and the unit check then stands guard: a
    misnamed result in a foreign unit is reported, never converted.
    """
    concept = resource.get("code")
    known = _by_codes(kb, code_pairs(concept) if pairs is None else pairs)
    if known is None:  # no coding matched and none is LOINC: the words decide
        found = match_words(kb, concept_texts(concept), "lab_")
        known = frozenset(kb.analyte_for_value_set(vs) for vs in found) - {None}, ""
    analytes, code = known
    if len(analytes) != 1:
        note = None
        if len(analytes) > 1:
            names = ", ".join(sorted(str(a) for a in analytes))
            label = concept_label(concept)
            note = f"{resource_ref(resource)} '{label}' matches several tests ({names}); not used"
        return None, "", note
    return _ANALYTES[next(iter(analytes))], code, None


_ANALYTES = {a.value: a for a in Analyte}  # Analyte(value) without the enum call, once per Observation


@functools.lru_cache(maxsize=4096)  # per set of codings: a chart repeats a few; requests bring any: bounded
def _by_codes(kb: Knowledge, coded: tuple[tuple[str, str], ...]) -> tuple[frozenset[str], str] | None:
    """Return (analyte ids, matched LOINC code) of a concept's codings; None when none matched and none
    is LOINC (then the concept's words are read).

    The analytes are those of the lab value sets any coding is in; the code is the first LOINC coding's
    that is in one of those sets ("" if none).
    """
    found: set[str] = set()
    loinc: list[tuple[str, str]] | None = None
    for system, code in coded:
        matches = kb.match_code(system, code, "lab_")
        found.update(match.value_set for match in matches)
        if kb.canonical_system(system) == LOINC:
            loinc = (loinc or []) + [(m.value_set, code) for m in matches]
    if not found:
        return None if loinc is None else (frozenset(), "")
    analytes = frozenset(kb.analyte_for_value_set(vs) for vs in found) - {None}
    return analytes, next((c for vs, c in loinc or () if vs in found), "")


def effective_date(resource: JSON) -> date | None:
    """Return when the specimen was taken: effective[x] first, ``issued`` only as a fallback.

    Why: the rules ask when the blood was drawn (lookback; "values drawn after therapy
    began", B12-RULES.md §3). ``issued`` is when the report was released, later and
    sometimes much later, so it stands in only when no effective time was sent.
    """
    return (
        parse_fhir_date(resource.get("effectiveDateTime"))
        or period_date(resource.get("effectivePeriod"), "start")
        or period_date(resource.get("effectivePeriod"), "end")
        or parse_fhir_date(resource.get("effectiveInstant"))
        or parse_fhir_date(resource.get("issued"))
    )


def interpretation(resource: JSON, kb: Knowledge) -> Interpretation | None:
    """Return the lab's own flag (v3 ObservationInterpretation L/LL/H/HH/N), if understood."""
    for concept in as_items(resource.get("interpretation")):
        found = _flag(kb, code_pairs(concept))  # code_pairs: the (system, code) pairs codings() reads
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=1024)  # per set of codings: labs send a handful of flags; bounded
def _flag(kb: Knowledge, coded: tuple[tuple[str, str], ...]) -> Interpretation | None:
    """The flag of the first understood coding of one interpretation concept, or None."""
    spec = kb.analytes.interpretation
    for system, code in coded:
        if system in spec.systems and code in spec.codes:
            return Interpretation(spec.codes[code])
    return None


def status_issues(status: str) -> tuple[DataIssue, ...]:
    """Return the issue a status raises; an unknown or missing status is not final."""
    if status in USABLE_STATUSES:
        return ()
    return (STATUS_ISSUES.get(status, DataIssue.NOT_FINAL),)


def read_observation(resource: object, kb: Knowledge, pairs: tuple[tuple[str, str], ...] | None = None,
                     ) -> tuple[LabResult | None, tuple[str, ...]]:
    """Return the LabResult for one Observation (None when irrelevant) and any chart notes (``pairs``: its code's
    ``code_pairs``, when already read)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return None, ()
    if pairs is None:
        pairs = code_pairs(resource.get("code"))
    coded = _coded_lab(kb, pairs)
    if coded is not None:
        analyte, code, table, canonical_unit, implied = coded
    else:
        analyte, code, ambiguity = identify(resource, kb, pairs)
        if analyte is None:
            if ambiguity:
                return None, (ambiguity,)
            problem = _CODE_CHECK(resource["code"]) if "code" in resource else None  # the only element kept
            return None, unreadable_notes(resource, {"code": problem}, "not used") if problem else ()
        table, canonical_unit, implied = _units_of(kb, analyte, code)
    found = _UNREADABLE(resource)
    defects = unreadable_notes(resource, found) if found else ()
    measured, value_units = measure(resource, table, canonical_unit, implied)
    status = resource.get("status")
    status = status.strip() if isinstance(status, str) else ""  # as_str(status) or "", in line
    effective = effective_date(resource)
    issues = measured.issues if status in USABLE_STATUSES else (*status_issues(status), *measured.issues)
    if effective is None:
        issues += (DataIssue.NO_DATE,)
    low, high = read_reference_range(resource, table, value_units) if "referenceRange" in resource else (None, None)
    result = LabResult.of(  # one per Observation read: see LabResult.of
        analyte=analyte,
        value=measured.value,
        unit=measured.unit,
        comparator=measured.comparator,
        effective=effective,
        status=status,
        reported=measured.reported,
        reference_low=low,
        reference_high=high,
        interpretation=interpretation(resource, kb) if "interpretation" in resource else None,
        issues=tuple(dict.fromkeys(issues)) if len(issues) > 1 else issues,
        source_ref=f"Observation/{as_str(resource.get('id')) or '?'}",  # resource_ref, its type known
        code=code,
    )
    if measured.issues or measured.unit_note:  # the only sources of a unit note
        return result, (*defects, *_unit_notes(result, measured.unit_note))
    return result, defects


_UNREADABLE = unreadable_of("Observation")  # elements.unreadable of a resource known to be an Observation
_CODE_CHECK = element_check("Observation", "code")


@functools.lru_cache(maxsize=4096)  # per set of codings, as _by_codes
def _coded_lab(kb: Knowledge, coded: tuple[tuple[str, str], ...],
               ) -> tuple[Analyte, str, UnitTable, str, tuple[str, str] | None] | None:
    """Return (analyte, matched LOINC code, and the analyte's ``_units_of``) when an Observation's codings alone
    name one analyte (:func:`identify`'s answer then, without its words or its note); else None.

    Why: nearly every lab result read is coded (5,000 in a long chart); identify and then ``_units_of`` were two
    remembered lookups and the unpacking of their answers, for an answer that depends on the codings alone.
    """
    known = _by_codes(kb, coded)
    if known is None or len(known[0]) != 1:
        return None
    analyte = _ANALYTES[next(iter(known[0]))]
    return analyte, known[1], *_units_of(kb, analyte, known[1])


@functools.lru_cache(maxsize=256)  # per analyte and matched LOINC code: a few dozen pairs in all
def _units_of(kb: Knowledge, analyte: Analyte, code: str) -> tuple[UnitTable, str, tuple[str, str] | None]:
    """Return the analyte's unit table and canonical unit, and (code, unit) of the unit its LOINC code implies."""
    spec = kb.analytes.analytes[analyte]  # a StrEnum: the same key as its value
    implied = spec.impliedUnits.get(code)
    return kb.lab_units[analyte], spec.canonicalUnit, (code, implied.unit) if implied else None


def _unit_notes(result: LabResult, unit_note: str) -> tuple[str, ...]:
    """Return the chart note for a value read in a borrowed unit, or one that could not be read."""
    if unit_note:
        return (f"{result.source_ref}: {unit_note} ({result.analyte.value} {result.reported})",)
    if DataIssue.UNKNOWN_UNIT not in result.issues:
        return ()
    unit = f"unit '{result.unit}'" if result.unit else "no unit"
    return (
        f"{result.source_ref}: {unit} for {result.analyte.value} ({result.reported}) "
        "cannot be converted; value not used",
    )


def read_labs(observations: list[JSON], kb: Knowledge, pairs: list[tuple[tuple[str, str], ...]] | None = None,
              ) -> tuple[tuple[LabResult, ...], tuple[str, ...]]:
    """Return the lab facts and chart notes for a list of Observations (``pairs``: :func:`observation_codes`)."""
    results: list[LabResult] = []
    notes: list[str] = []
    for resource, coded in zip(observations, observation_codes(observations) if pairs is None else pairs, strict=True):
        result, found_notes = read_observation(resource, kb, coded)
        notes += found_notes
        if result is not None:
            results.append(result)
    return tuple(results), tuple(notes)


def observation_codes(observations: list[JSON]) -> list[tuple[tuple[str, str], ...]]:
    """Return the ``code_pairs`` of each Observation's code, read once for the labs and the pregnancy tests.

    Why: both readers key what they remember on them; read twice, they were about 5k instructions an
    Observation (callgrind) of the chart's 1.07M for the order-sign fixture call.
    """
    return [code_pairs(r.get("code")) if isinstance(r, dict) else () for r in observations]
