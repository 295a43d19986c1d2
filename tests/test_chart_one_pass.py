"""An Observation is read as before (docs/performance.md, seventh round): the lab readers' leaner forms give the
answers of the plain ones they replaced, result for result and note for note.

The forms replaced are spelled out here as they stood before (main at 2210fc8), with the element checks as
closures and the unit multipliers looked up afresh, and compared over varied and malformed Observations.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from test_chart_fast_paths import _unreadable_as_before  # elements.unreadable as the closures of SPECS

from cds_service.chart import elements, labs, quantities
from cds_service.chart.facts import Comparator, DataIssue, LabResult
from cds_service.chart.fhir_types import as_dict, as_items, as_number, as_str, resource_ref
from cds_service.chart.quantities import UCUM, Measured, Unit, format_number, quantity_units, unit_multiplier
from cds_service.knowledge import load_knowledge

KB = load_knowledge()
LOINC = "http://loinc.org"


# --- the readers as they were --------------------------------------------------------------------------------

def _sent_as_before(resource: dict):
    if "valueQuantity" in resource:
        quantity = as_dict(resource["valueQuantity"])
        number, comparator, units = quantity.get("value"), quantity.get("comparator"), quantity_units(quantity)
        sign = comparator if isinstance(comparator, str) and comparator != "=" else ""
        shown = f"{sign}{format_number(number)} {units[0].text if units else ''}".strip()
        return number, comparator, units, shown
    if "valueString" in resource:
        text = as_str(resource.get("valueString")) or ""
        match = quantities._VALUE_STRING.match(text)
        if match is None:
            return Measured(None, Comparator.EQ, "", text, (DataIssue.NON_NUMERIC,))
        comparator, number, unit = match.groups()
        return float(number), comparator, [Unit(unit.strip(), False)] if unit else [], text
    if "valueInteger" in resource:
        return resource["valueInteger"], None, [], format_number(resource["valueInteger"])
    if any(key.startswith("value") for key in resource):
        concept = as_dict(resource.get("valueCodeableConcept"))
        return Measured(None, Comparator.EQ, "", as_str(concept.get("text")) or "non-numeric value",
                        (DataIssue.NON_NUMERIC,))
    return Measured(None, Comparator.EQ, "", "no value", (DataIssue.NO_VALUE,))


def _reference_units_as_before(resource: dict) -> list[Unit]:
    for reference_range in as_items(resource.get("referenceRange")):
        for bound in ("low", "high"):
            units = quantity_units(as_dict(reference_range).get(bound))
            if units:
                return units
    return []


def _convert_as_before(number, comparator, units, table, canonical_unit):
    shown_unit = units[0].text if units else ""
    value = as_number(number)
    known = quantities.COMPARATORS.get(comparator if isinstance(comparator, str) and comparator else "=")
    if value is None or known is None:
        return None, known or Comparator.EQ, shown_unit, (DataIssue.NON_NUMERIC,)
    multiplier = unit_multiplier(units, table)
    if multiplier is None:
        return None, known, shown_unit, (DataIssue.UNKNOWN_UNIT,)
    converted = value * multiplier
    if not math.isfinite(converted):
        return None, known, shown_unit, (DataIssue.NON_NUMERIC,)
    return converted, known, canonical_unit, ()


def _measure_as_before(resource: dict, table, canonical_unit: str, implied) -> tuple[Measured, list[Unit]]:
    """``quantities.measure`` before the valueQuantity was read in one pass."""
    sent = _sent_as_before(resource)
    if isinstance(sent, Measured):
        return sent, []
    number, comparator, units, reported = sent
    borrowed, origin = [], ""
    if not units:
        borrowed = _reference_units_as_before(resource)
        origin = "the unit of the lab's reference range" if borrowed else ""
        if not borrowed and implied:
            borrowed, origin = [Unit(implied[1], True)], f"the unit LOINC {implied[0]} implies"
    value, known, unit, issues = _convert_as_before(number, comparator, units or borrowed, table, canonical_unit)
    note = f"no unit sent; read in {borrowed[0].text}, {origin}" if borrowed and value is not None else ""
    return Measured(value, known, unit, reported, issues, note), units if "valueQuantity" in resource else []


def _reference_range_as_before(resource: dict, table, value_units) -> tuple[float | None, float | None]:
    def bound(quantity: dict) -> float | None:
        number = as_number(quantity.get("value"))
        multiplier = unit_multiplier(quantity_units(quantity) or value_units, table)
        if number is None or multiplier is None or not math.isfinite(number * multiplier):
            return None
        return number * multiplier

    for reference_range in as_items(resource.get("referenceRange")):
        bounds = [as_dict(as_dict(reference_range).get(b)) for b in ("low", "high")]
        if any("value" in b for b in bounds):
            return bound(bounds[0]), bound(bounds[1])
    return None, None


def _read_observation_as_before(resource: object, kb) -> tuple[LabResult | None, tuple[str, ...]]:
    """``labs.read_observation`` as it stood before this round (its helpers above)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        return None, ()
    analyte, code, ambiguity = labs.identify(resource, kb)
    if analyte is None:
        broken = {k: v for k, v in _unreadable_as_before(resource).items() if k == "code"}
        return None, (ambiguity,) if ambiguity else elements.unreadable_notes(resource, broken, "not used")
    defects = elements.unreadable_notes(resource, _unreadable_as_before(resource))
    spec = kb.analytes.analytes[analyte]
    implied = spec.impliedUnits.get(code)
    table = kb.lab_units[analyte]
    measured, value_units = _measure_as_before(resource, table, spec.canonicalUnit,
                                               (code, implied.unit) if implied else None)
    status = as_str(resource.get("status")) or ""
    effective = labs.effective_date(resource)
    issues = (*labs.status_issues(status), *measured.issues)
    if effective is None:
        issues += (DataIssue.NO_DATE,)
    low, high = _reference_range_as_before(resource, table, value_units)
    result = LabResult(analyte=analyte, value=measured.value, unit=measured.unit, comparator=measured.comparator,
                       effective=effective, status=status, reported=measured.reported, reference_low=low,
                       reference_high=high, interpretation=labs.interpretation(resource, kb),
                       issues=tuple(dict.fromkeys(issues)), source_ref=resource_ref(resource), code=code)
    return result, (*defects, *labs._unit_notes(result, measured.unit_note))


# --- varied and malformed Observations -----------------------------------------------------------------------

_LAB_CODES = sorted({c.code for name, vs in KB.value_sets.items() if name.startswith("lab_") for c in vs.codes})
_JUNK = st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.just([]) | st.just({}) | st.just("")
_TEXTS = st.sampled_from(["B12", "Hemoglobin", "vitamin b12 and mma", "MCV", "folate", "Platelets", " "]) | _JUNK
_CODINGS = st.fixed_dictionaries({"code": st.sampled_from([*_LAB_CODES, " 718-7 ", "x"])}, optional={
    "system": st.sampled_from([LOINC, f" {LOINC}/ ", "urn:local", ""]) | _JUNK, "display": _TEXTS}) | _JUNK
_CODES = st.fixed_dictionaries({}, optional={"coding": st.lists(_CODINGS, min_size=1, max_size=2) | _CODINGS | _JUNK,
                                             "text": _TEXTS}) | _JUNK
_UNITS = st.sampled_from(["g/dL", " g/dl ", "g/L", "fL", "pmol/L", "pg/mL", "ng/L", "nmol/L", "umol/L", "10*3/uL",
                          "%", "mg", "", " "]) | _JUNK
_NUMBERS = (st.floats() | st.integers(-10, 10**6) | st.sampled_from([0, -0.0, 1e308, 2**1024, 13.1, 148, 0.6814])
            | _JUNK | st.sampled_from(["148", True]))
_QUANTITIES = st.fixed_dictionaries({}, optional={
    "value": _NUMBERS, "unit": _UNITS, "code": _UNITS, "comparator": st.sampled_from(["<", ">=", "=", "", "~"]) | _JUNK,
    "system": st.sampled_from([UCUM, UCUM + "/", "urn:x", ""]) | _JUNK}) | _JUNK
_RANGES = st.fixed_dictionaries({}, optional={"low": _QUANTITIES, "high": _QUANTITIES, "text": _JUNK}) | _JUNK
_DATES = st.sampled_from(["2026-08-18T09:12:00Z", "2024-03", "1950", "2024-02-30", " 2024-03-01 ", "yesterday",
                          ""]) | _JUNK
_FLAGS = st.fixed_dictionaries({}, optional={"coding": st.lists(st.fixed_dictionaries({}, optional={
    "system": st.sampled_from(["http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", ""]) | _JUNK,
    "code": st.sampled_from(["L", "H", "N", " L ", "A"]) | _JUNK}) | _JUNK, max_size=2) | _JUNK}) | _JUNK

OBSERVATIONS = st.fixed_dictionaries({"resourceType": st.just("Observation"), "code": _CODES}, optional={
    "id": st.sampled_from(["o1", " o2 ", ""]) | _JUNK,
    "status": st.sampled_from(["final", "amended", "preliminary", "cancelled", "entered-in-error", " final", ""])
    | _JUNK,
    "valueQuantity": _QUANTITIES,
    "valueString": st.sampled_from(["<100 pmol/L", "150", "12.5 g/dL", "1,500", "high", ""]) | _JUNK,
    "valueInteger": _NUMBERS, "valueCodeableConcept": _CODES, "valueBoolean": st.booleans(),
    "effectiveDateTime": _DATES, "effectivePeriod": st.fixed_dictionaries({}, optional={"start": _DATES, "end": _DATES})
    | _JUNK, "effectiveInstant": _DATES, "issued": _DATES,
    "interpretation": st.lists(_FLAGS, max_size=2) | _FLAGS, "referenceRange": st.lists(_RANGES, max_size=2) | _RANGES,
    "category": _JUNK, "note": _JUNK})
# well formed, as most are: a known code, a number in one of its units, a date; a range and a flag in some


def _accepted(code: str) -> list[str]:
    analyte = labs.identify({"code": {"coding": [{"system": LOINC, "code": code}]}}, KB)[0]
    return sorted(KB.lab_units[analyte].exact) if analyte else []


_LAB_UNITS = {code: [*_accepted(code), "mg", "10*3/uL"] for code in _LAB_CODES}
_FLAG = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"}


def _well_formed(code: str) -> st.SearchStrategy[dict]:
    def quantity_of(value: float, unit: str | None, ucum: bool) -> dict:  # unit None: a value sent without one
        return {"value": value, **({"unit": unit, "system": UCUM, "code": unit if ucum else "x"} if unit else {})}

    quantity = st.builds(quantity_of, st.floats(0, 5000) | st.integers(0, 5000),
                         st.sampled_from([*_LAB_UNITS[code], None]), st.booleans())
    return st.fixed_dictionaries({
        "resourceType": st.just("Observation"), "id": st.just("o1"),
        "status": st.sampled_from(["final", "final", "amended", "preliminary"]),
        "code": st.just({"coding": [{"system": LOINC, "code": code, "display": "x"}], "text": "t"}),
        "valueQuantity": quantity,
        "effectiveDateTime": st.sampled_from(["2026-08-18T09:12:00Z", "2024-03", "2026-08-18", " 2024-03-01 "])},
        optional={"referenceRange": st.lists(st.fixed_dictionaries({}, optional={"low": quantity, "high": quantity}),
                                             max_size=2),
                  "interpretation": st.lists(st.builds(lambda flag: {"coding": [{**_FLAG, "code": flag}]},
                                                       st.sampled_from(["L", "H", "N", "A"])), max_size=1)})


WELL_FORMED = st.sampled_from(_LAB_CODES).flatmap(_well_formed)


@settings(max_examples=1500, deadline=None)
@given(OBSERVATIONS | WELL_FORMED)
def test_an_observation_is_read_as_before(resource: dict) -> None:
    before = _read_observation_as_before(resource, KB)
    assert labs.read_observation(resource, KB) == before
    assert labs.read_observation(resource, KB) == before  # and again, from what was remembered


@settings(max_examples=300, deadline=None)
@given(st.lists(OBSERVATIONS | WELL_FORMED | _JUNK, max_size=6))
def test_observations_are_read_as_before(resources: list) -> None:
    results, notes = [], []
    for resource in resources:
        result, found = _read_observation_as_before(resource, KB)
        notes += found
        if result is not None:
            results.append(result)
    assert labs.read_labs(resources, KB) == (tuple(results), tuple(notes))


# --- the pregnancy tests among the Observations (pregnancy.read_pregnancy_tests) ------------------------------

def _mostly(good: st.SearchStrategy) -> st.SearchStrategy:
    """``good``, else junk now and then (``good | _JUNK`` draws each of _JUNK's kinds as often as ``good``)."""
    return st.one_of(*[good] * 7, _JUNK)


_ANSWERS = st.fixed_dictionaries({
    "text": _mostly(st.sampled_from(["Pregnant", "not pregnant", "Positive", "negative"]))}, optional={
    "coding": st.lists(st.sampled_from([{"system": LOINC, "code": "LA15173-0"}, {"system": LOINC, "code": "x"}])
                       | _CODINGS, max_size=1)})
_PREGNANCY = st.fixed_dictionaries({
    "resourceType": st.just("Observation"),
    "code": st.builds(lambda code: {"coding": [{"system": LOINC, "code": code}]},
                      st.sampled_from(["82810-3", " 2106-3 ", "2106-3", "718-7"])),
    "status": _mostly(st.sampled_from(["final", "final", "preliminary"])), "valueCodeableConcept": _ANSWERS},
    optional={"id": st.sampled_from(["p1", ""]) | _JUNK,
    "valueString": st.sampled_from(["positive", "negative", ""]) | _JUNK,
    "effectiveDateTime": _mostly(_DATES), "interpretation": _FLAGS})


@settings(max_examples=300, deadline=None)
@given(st.lists(_PREGNANCY | OBSERVATIONS | WELL_FORMED | _JUNK, max_size=5))
def test_pregnancy_tests_are_read_as_before(resources: list) -> None:
    from cds_service.chart.pregnancy import read_pregnancy_test, read_pregnancy_tests

    problems, notes = [], []
    for resource in resources:  # as read_pregnancy_tests did: every Observation asked in turn
        found, found_notes = read_pregnancy_test(resource, KB)
        problems += found
        notes += found_notes
    assert read_pregnancy_tests(resources, KB) == (tuple(problems), tuple(notes))


# --- one element's check (elements.element_check) ------------------------------------------------------------

_VALUES = st.recursive(
    _JUNK | _DATES | st.sampled_from(["final", "http://loinc.org", "718-7", 2**1024, 1e308]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(
        ["coding", "system", "code", "display", "text", "value", "unit", "comparator", "start", "end", "low", "high",
         "reference", "numerator", "denominator", "repeat", "x"]), inner, max_size=4), max_leaves=10)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([(kind, key) for kind, spec in elements.SPECS.items() for key in spec]), _VALUES)
def test_one_elements_check_is_its_part_of_unreadable(kind_key: tuple[str, str], value: object) -> None:
    kind, key = kind_key
    found = _unreadable_as_before({"resourceType": kind, key: value})
    assert elements.element_check(kind, key)(value) == found.get(key)
