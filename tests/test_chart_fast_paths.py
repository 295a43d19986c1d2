"""The chart's and the picks' faster ways give the answers of the plain ones they replaced (docs/performance.md,
fourth round): remembered answers keyed on codings and unit strings, a LabResult built without the frozen
``__init__``, the labs grouped by analyte once, and the decisive result picked without the pick's context.

The plain versions are spelled out here as they stood before, and compared over varied and malformed input.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from builders import TODAY
from builders.facts import chart, lab
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.chart import elements
from cds_service.chart.facts import Analyte, DataIssue, Interpretation, LabResult
from cds_service.chart.fhir_types import as_items, as_str, concept_label, concept_texts, resource_ref
from cds_service.chart.labs import LOINC, identify
from cds_service.chart.matching import match_codes, match_words
from cds_service.chart.pregnancy import TEST_SET, _is_test
from cds_service.chart.quantities import UCUM, Unit, quantity_units
from cds_service.knowledge import load_knowledge
from cds_service.rules.labs import latest_usable, latest_usable_result

KB = load_knowledge()

# --- varied and malformed codings, concepts and quantities -------------------------------------------------

_LAB_CODES = sorted({c.code for name, vs in KB.value_sets.items() if name.startswith(("lab_", "obs_"))
                     for c in vs.codes})
_TEXTS = ["B12", "Hemoglobin", "vitamin b12 and mma", "active b12", "MCV", "pregnancy test", "folate", "eGFR", " "]
_JUNK = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.just([]) | st.just({})
_systems = st.sampled_from([LOINC, LOINC + "/", f" {LOINC} ", "urn:oid:2.16.840.1.113883.6.1", "http://snomed.info/sct",
                            "urn:local", "", " "]) | _JUNK
_codes = st.sampled_from(_LAB_CODES) | st.sampled_from([" 718-7 ", "718-7x", "", " "]) | _JUNK
_codings = st.fixed_dictionaries({}, optional={"system": _systems, "code": _codes,
                                               "display": st.sampled_from(_TEXTS) | _JUNK}) | _JUNK
_concepts = st.fixed_dictionaries({}, optional={"coding": st.lists(_codings, max_size=3) | _codings,
                                                "text": st.sampled_from(_TEXTS) | _JUNK}) | _JUNK
_units = st.sampled_from(["g/dL", " g/dl ", "fL", "pmol/L", "µmol/L", "", " ", "mg"]) | _JUNK
_quantities = st.fixed_dictionaries({}, optional={
    "value": st.floats() | st.integers() | _JUNK, "unit": _units, "code": _units,
    "system": st.sampled_from([UCUM, UCUM + "/", f" {UCUM}/ ", "urn:x", ""]) | _JUNK}) | _JUNK


def _identify_as_before(resource: dict, kb) -> tuple[Analyte | None, str, str | None]:
    """``identify`` as it was before its answers were remembered per set of codings."""
    concept = resource.get("code")
    by_code: dict[str, str] = {}
    loinc: list[tuple[str, str]] | None = None
    for coding in as_items(concept.get("coding")) if isinstance(concept, dict) else ():
        code = as_str(coding.get("code")) if isinstance(coding, dict) else None
        if not code:
            continue
        system = as_str(coding.get("system")) or ""
        matches = kb.match_code(system, code, "lab_")
        for match in matches:
            by_code.setdefault(match.value_set, match.evidence)
        if kb.canonical_system(system) == LOINC:
            loinc = (loinc or []) + [(m.value_set, code) for m in matches]
    found = by_code or ({} if loinc is not None else match_words(kb, concept_texts(concept), "lab_"))
    analytes = {kb.analyte_for_value_set(vs) for vs in found}
    analytes.discard(None)
    if len(analytes) != 1:
        note = None
        if len(analytes) > 1:
            names = ", ".join(sorted(str(a) for a in analytes))
            note = f"{resource_ref(resource)} '{concept_label(concept)}' matches several tests ({names}); not used"
        return None, "", note
    analyte = Analyte(analytes.pop())
    return analyte, next((c for vs, c in loinc or () if vs in found), ""), None


def _quantity_units_as_before(quantity: object) -> list[Unit]:
    if not isinstance(quantity, dict):
        return []
    code, text = as_str(quantity.get("code")), as_str(quantity.get("unit"))
    units = []
    if code:
        system = quantity.get("system")
        units.append(Unit(code, isinstance(system, str) and system.strip().rstrip("/") == UCUM))
    if text:
        units.append(Unit(text, False))
    return units


@settings(max_examples=400, deadline=None)
@given(_concepts)
def test_identify_gives_the_answer_it_gave_before(concept: object) -> None:
    resource = {"resourceType": "Observation", "id": "o1", "code": concept}
    assert identify(resource, KB) == _identify_as_before(resource, KB)
    assert identify(resource, KB) == _identify_as_before(resource, KB)  # and again, from what it remembered


@settings(max_examples=300, deadline=None)
@given(_concepts)
def test_a_pregnancy_test_is_recognised_as_before(concept: object) -> None:
    from cds_service.chart.matching import code_pairs

    assert _is_test(KB, code_pairs(concept)) == bool(match_codes(KB, concept, TEST_SET))


@pytest.mark.parametrize("code", ["82810-3", " 2106-3 "])
def test_the_pregnancy_test_codes_are_recognised(code: str) -> None:
    from cds_service.chart.matching import code_pairs

    assert _is_test(KB, code_pairs({"coding": [{"system": LOINC, "code": code}]}))


@settings(max_examples=400, deadline=None)
@given(_quantities)
def test_quantity_units_are_read_as_before(quantity: object) -> None:
    assert quantity_units(quantity) == _quantity_units_as_before(quantity)
    units = quantity_units(quantity)
    units.append(Unit("changed", False))  # the caller's own list: what is remembered does not change
    assert quantity_units(quantity) == _quantity_units_as_before(quantity)


# --- LabResult.of ------------------------------------------------------------------------------------------


def test_lab_result_of_is_the_constructor() -> None:
    fields = dict(analyte=Analyte.MCV, value=104.0, unit="fL", comparator=lab(Analyte.MCV, 1).comparator,
                  effective=TODAY, status="final", reported="104 fL", reference_low=80.0, reference_high=100.0,
                  interpretation=Interpretation.HIGH, issues=(DataIssue.STALE,), source_ref="Observation/1",
                  code="787-2")
    assert set(fields) == {f.name for f in dataclasses.fields(LabResult)}  # a new field must be added here
    built, made = LabResult.of(**fields), LabResult(**fields)
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    assert dataclasses.replace(built, value=1.0) == dataclasses.replace(made, value=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.value = 1.0  # type: ignore[misc]


# --- picks ---------------------------------------------------------------------------------------------------

_ISSUES = st.sampled_from([(), (), (), (DataIssue.NOT_FINAL,), (DataIssue.STALE,), (DataIssue.UNKNOWN_UNIT,)])
_results = st.builds(
    lambda analyte, value, days, issues, comparator: dataclasses.replace(
        lab(analyte, value, on=TODAY - timedelta(days=days), comparator=comparator), issues=issues),
    st.sampled_from([Analyte.HAEMOGLOBIN, Analyte.MCV, Analyte.EGFR, Analyte.B12_TOTAL]),
    st.none() | st.sampled_from([10.0, 12.5, 104.0, 25.0]),
    st.integers(-5, 900),  # future-dated (beyond the day's grace), recent, and older than any lookback
    _ISSUES,
    st.sampled_from(["=", "<", ">"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_results, max_size=12), st.sampled_from([None, 1, 3, 24]))
def test_the_decisive_result_is_the_picks_latest(results: list[LabResult], months: int | None) -> None:
    record = chart(labs=results)
    for analyte in Analyte:
        assert record.labs_of(analyte) == tuple(r for r in results if r.analyte is analyte)
        pick = latest_usable(record, analyte, KB, lookback_months=months)
        assert latest_usable_result(record, analyte, KB, lookback_months=months) is pick.latest


def test_an_undated_usable_result_is_a_candidate_in_both() -> None:
    undated = dataclasses.replace(lab(Analyte.MCV, 104.0), effective=None)
    record = chart(labs=[undated])
    assert latest_usable_result(record, Analyte.MCV, KB) is latest_usable(record, Analyte.MCV, KB).latest is undated


# --- each resource once ---------------------------------------------------------------------------------------

_IDS = st.sampled_from(["a", "b", "1"]) | st.integers(0, 2) | st.just(1.0) | st.just(True) | st.none()
_RESOURCES = st.lists(st.fixed_dictionaries(
    {"resourceType": st.sampled_from(["Observation", "Condition", "Patient"]), "n": st.integers()},
    optional={"id": _IDS}) | st.sampled_from(["x", 5, None]), max_size=12)


def _unique_as_before(resources: list) -> list:
    seen: set = set()
    unique = []
    for resource in resources:
        key = (resource.get("resourceType"), resource.get("id")) if isinstance(resource, dict) else None
        # Since then only a string id is a repeat's mark (a list or an object as id answered 500 there), as in
        # PatientData.resources: the reference follows, so what is compared is the single walk.
        if key is not None and isinstance(key[1], str):
            if key in seen:
                continue
            seen.add(key)
        unique.append(resource)
    return unique


def _resources_as_before(by_key: dict[str, list]) -> list:
    seen: dict = {}
    anonymous = []
    for resources in by_key.values():
        for resource in resources:
            rid = resource.get("id")
            if isinstance(rid, str):
                seen.setdefault((resource["resourceType"], rid), resource)
            else:
                anonymous.append(resource)
    return [*seen.values(), *anonymous]


@settings(max_examples=300, deadline=None)
@given(_RESOURCES, _RESOURCES)
def test_repeats_are_dropped_as_before(first: list, second: list) -> None:
    from cds_service.chart.build import _unique
    from cds_service.data.prefetch import PatientData

    both = first + second
    assert [id(r) for r in _unique(both)] == [id(r) for r in _unique_as_before(both)]
    by_key = {"a": [r for r in first if isinstance(r, dict)], "b": [r for r in second if isinstance(r, dict)]}
    found = PatientData(by_key=by_key).resources()
    assert [id(r) for r in found] == [id(r) for r in _resources_as_before(by_key)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_results, st.booleans()), max_size=12))
def test_labs_are_ordered_newest_first_as_before(drawn: list) -> None:
    from datetime import date

    from cds_service.chart.build import _newest_first

    labs = tuple(dataclasses.replace(r, effective=None) if undated else r for r, undated in drawn)
    before = tuple(sorted(labs, key=lambda r: (r.effective is None, -(r.effective or date.min).toordinal())))
    assert [id(r) for r in _newest_first(labs)] == [id(r) for r in before]


def _format_number_as_before(number: object) -> str:
    import math

    if not isinstance(number, float) or not math.isfinite(number) or abs(number) >= 1e15:
        return str(number)
    if number.is_integer():
        return str(int(number))
    whole = len(str(int(abs(number)))) if abs(number) >= 1 else 0
    text = f"{number:.{max(0, 4 - whole)}f}" if whole else f"{number:.4g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


@settings(max_examples=1000, deadline=None)
@given(st.floats() | st.floats(-2000, 2000) | st.integers() | st.sampled_from(
    [0.99996, 9.99995, 99.995, 999.95, 999.96, 1000.5, 1e-5, 0.00012345, 1e15 - 0.5, -0.0, "7", None, True]))
def test_numbers_are_printed_as_before(number: object) -> None:
    from cds_service.chart.quantities import format_number

    assert format_number(number) == _format_number_as_before(number)


# --- the element checks, compiled (elements._compile, elements._compile_type) --------------------------------

def _unreadable_as_before(resource: dict) -> dict[str, str]:
    """``unreadable`` as it was before its checks were compiled: the closures of ``elements.SPECS``, in turn."""
    found: dict[str, str] = {}
    for key, check in elements.SPECS.get(str(resource.get("resourceType")), {}).items():
        if key in resource:
            problem = check(resource[key])
            if problem:
                found[key] = problem
    return found


def _spec_keys(check: object, into: set[str]) -> set[str]:
    for key, inner in getattr(check, "fields", ()):
        into.add(key)
        _spec_keys(inner, into)
    if hasattr(check, "item"):
        _spec_keys(check.item, into)
    return into


_KEYS = sorted({key for spec in elements.SPECS.values() for check in spec.values() for key in _spec_keys(check, set())}
               | {key for spec in elements.SPECS.values() for key in spec} | {"x", "url"})
_LEAVES = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.integers() | st.sampled_from(
    [2**1023 - 1, 2**1023, -(2**1023), 2**1024 - 1, 2**1024, -(2**1024), 10**400, 1e308, -0.0]) | st.sampled_from(
    ["2024-03-01", "2024-03", "1950", "2024-02-30", "2024-13-01", " 2024-03-01T10:00:00Z ", "yesterday", "", "x" * 50,
     "http://loinc.org", "mg", "final"]) | st.text(max_size=4))
_ELEMENTS = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5), max_leaves=12)


@settings(max_examples=600, deadline=None)
@given(_ELEMENTS)
def test_compiled_element_checks_answer_as_the_closures(value: object) -> None:
    for spec in elements.SPECS.values():
        for check in spec.values():
            assert elements.compiled(check)(value) == check(value)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(elements.SPECS)), st.dictionaries(st.sampled_from(_KEYS), _ELEMENTS, max_size=8))
def test_unreadable_answers_as_before(kind: str, resource: dict) -> None:
    resource = {"resourceType": kind, **resource}
    assert elements.unreadable(resource) == _unreadable_as_before(resource)
    assert list(elements.unreadable(resource)) == list(_unreadable_as_before(resource))  # the same order


@pytest.mark.parametrize("kind", [None, 5, True, ["Observation"], {"Observation": 1}, "observation", "Bundle"])
def test_a_resource_of_no_checked_type_has_nothing_unreadable(kind: object) -> None:
    resource = {"resourceType": kind, "status": 5, "code": "x"}
    assert elements.unreadable(resource) == _unreadable_as_before(resource) == {}
    assert elements.unreadable({"status": 5}) == {}


def test_unreadable_reads_the_fixtures_as_before() -> None:
    from fixture_tools import iter_fixture_calls
    from helpers import load_json

    seen = 0
    for fixture in iter_fixture_calls():
        body = load_json(fixture.request_path)
        for value in [*body.get("prefetch", {}).values(), body["context"].get("draftOrders")]:
            if isinstance(value, dict) and value.get("resourceType") == "Bundle":
                for entry in value.get("entry", []):
                    resource = entry.get("resource")
                    if isinstance(resource, dict):
                        assert elements.unreadable(resource) == _unreadable_as_before(resource)
                        seen += 1
    assert seen > 100


def _as_number_as_before(value: object) -> float | None:
    """``as_number`` as it was before ints were answered first."""
    import math
    from decimal import Decimal

    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


@settings(max_examples=500, deadline=None)
@given(st.integers() | st.integers(-(2**1100), 2**1100) | st.floats() | st.decimals() | st.booleans() | st.none()
       | st.text(max_size=3) | st.just([]) | st.sampled_from([2**1024, -(2**1024), 10**400, 0, -0.0]))
def test_numbers_are_read_as_before(value: object) -> None:
    from cds_service.chart.fhir_types import as_number

    found, before = as_number(value), _as_number_as_before(value)
    assert found == before and type(found) is type(before)


# --- a lab's own flag and its reference range ---------------------------------------------------------------

_FLAGS = st.fixed_dictionaries({}, optional={"coding": st.lists(st.fixed_dictionaries({}, optional={
    "system": st.sampled_from(["http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", " x ", ""])
    | _JUNK, "code": st.sampled_from(["L", "LL", "H", "HH", "N", " L ", "A", ""]) | _JUNK}) | _JUNK, max_size=3)
    | _JUNK, "text": st.sampled_from(_TEXTS) | _JUNK}) | _JUNK


def _interpretation_as_before(resource: dict, kb) -> Interpretation | None:
    """``labs.interpretation`` as it was before its answers were remembered per set of codings."""
    from cds_service.chart.fhir_types import codings

    spec = kb.analytes.interpretation
    for concept in as_items(resource.get("interpretation")):
        for system, code, _ in codings(concept):
            if system in spec.systems and code in spec.codes:
                return Interpretation(spec.codes[code])
    return None


@settings(max_examples=500, deadline=None)
@given(st.lists(_FLAGS, max_size=3) | _FLAGS)
def test_the_labs_flag_is_read_as_before(flags: object) -> None:
    from cds_service.chart.labs import interpretation

    resource = {"resourceType": "Observation", "interpretation": flags}
    assert interpretation(resource, KB) is _interpretation_as_before(resource, KB)


def _reference_range_as_before(resource: dict, table, value_units: list) -> tuple[float | None, float | None]:
    """``quantities.read_reference_range`` as it was before it was spelled out."""
    import math

    from cds_service.chart.fhir_types import as_dict, as_number
    from cds_service.chart.quantities import unit_multiplier

    def bound(quantity: dict) -> float | None:
        number = as_number(quantity.get("value"))
        multiplier = unit_multiplier(quantity_units(quantity) or value_units, table)
        if number is None or multiplier is None or not math.isfinite(number * multiplier):
            return None
        return number * multiplier

    for reference_range in as_items(resource.get("referenceRange")):
        bounds = [as_dict(as_dict(reference_range).get(b)) for b in ("low", "high")]
        if not any("value" in b for b in bounds):
            continue
        low, high = (bound(b) for b in bounds)
        return low, high
    return None, None


_RANGES = st.fixed_dictionaries({}, optional={"low": _quantities, "high": _quantities, "text": _JUNK}) | _JUNK


@settings(max_examples=500, deadline=None)
@given(st.lists(_RANGES, max_size=3) | _RANGES, st.sampled_from(list(Analyte)),
       st.sampled_from([[], [Unit("pg/mL", True)], [Unit("g/dL", False)], [Unit("x", False), Unit("fL", True)]]))
def test_reference_ranges_are_read_as_before(ranges: object, analyte: Analyte, value_units: list) -> None:
    from cds_service.chart.quantities import read_reference_range

    resource = {"resourceType": "Observation", "referenceRange": ranges}
    table = KB.lab_units[analyte]
    found = read_reference_range(resource, table, value_units)
    assert found == _reference_range_as_before(resource, table, value_units)


# --- the concept helpers, spelled out (fhir_types) -----------------------------------------------------------


def _codings_as_before(concept: object) -> list[tuple[str, str, str]]:
    from cds_service.chart.fhir_types import as_dict

    found = []
    for coding in as_items(as_dict(concept).get("coding")):
        code = as_str(as_dict(coding).get("code"))
        if code:
            found.append((as_str(coding.get("system")) or "", code, as_str(coding.get("display")) or ""))
    return found


def _concept_texts_as_before(concept: object) -> list[str]:
    from cds_service.chart.fhir_types import as_dict

    concept = as_dict(concept)
    texts = [as_str(concept.get("text"))]
    texts += [as_str(as_dict(c).get("display")) for c in as_items(concept.get("coding"))]
    return [t for t in texts if t]


@settings(max_examples=600, deadline=None)
@given(_concepts, st.sampled_from(["", "sct", "/sct", "loinc.org", " ", "x"]))
def test_the_concept_helpers_answer_as_before(concept: object, suffix: str) -> None:
    from cds_service.chart.fhir_types import codings, first_code

    before = _codings_as_before(concept)
    assert codings(concept) == before
    assert concept_texts(concept) == _concept_texts_as_before(concept)
    texts = _concept_texts_as_before(concept)
    assert concept_label(concept) == (texts[0] if texts else next((c for _, c, _ in before), ""))
    assert first_code(concept, suffix) == next((c for s, c, _ in before if s.endswith(suffix)), None)
    assert first_code(concept) == next((c for _, c, _ in before), None)


def test_problem_of_is_the_constructor() -> None:
    from cds_service.chart.facts import Problem, ProblemCategory

    fields = {"category": ProblemCategory.NEUROPATHY if "NEUROPATHY" in ProblemCategory.__members__
              else next(iter(ProblemCategory)), "display": "Peripheral neuropathy", "clinical_status": "active",
              "verification_status": None, "onset": TODAY, "active": True, "source_ref": "Condition/c1",
              "matched_by": "snomed:302226006", "recorded": None, "ended": False}
    made, built = Problem.of(**fields), Problem(**fields)
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert dataclasses.asdict(made) == dataclasses.asdict(built)
    assert dataclasses.replace(made, active=False) == dataclasses.replace(built, active=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.active = False  # type: ignore[misc]


# --- medicines: classes and names remembered per product reading, coded routes per coding --------------------

_MED_TEXTS = ["Folic acid 5 mg tablet", "metformin 500 mg", "Glucophage", "hydroxocobalamin 1 mg/mL injection",
              "omeprazole", "cyanocobalamin and folic acid", "vitamin b12", "pantoprazole 40", " ", ""]
_MED_CODES = sorted({c.code for name, vs in KB.value_sets.items() if name.startswith("med_") for c in vs.codes})[:60]
_med_codings = st.fixed_dictionaries({}, optional={
    "system": st.sampled_from(["http://www.nlm.nih.gov/research/umls/rxnorm", "http://snomed.info/sct",
                               "http://www.whocc.no/atc", "urn:local", ""]) | _JUNK,
    "code": st.sampled_from(_MED_CODES) | _codes, "display": st.sampled_from(_MED_TEXTS) | _JUNK})
_med_concepts = st.fixed_dictionaries({}, optional={"coding": st.lists(_med_codings, max_size=2) | _med_codings,
                                                    "text": st.sampled_from(_MED_TEXTS) | _JUNK})


@st.composite
def _products(draw):
    from cds_service.chart.med_concepts import Ingredient, Product

    concept = draw(_med_concepts)
    ingredients = tuple(Ingredient(draw(_med_concepts), {}) for _ in range(draw(st.integers(0, 2))))
    texts = tuple(draw(st.lists(st.sampled_from(_MED_TEXTS[:-2]), max_size=2)))
    return Product(concept, tuple(concept_texts(concept)) + texts, ingredients, display="x")


@settings(max_examples=400, deadline=None)
@given(_products())
def test_medicines_are_classified_and_named_as_before(product) -> None:
    from cds_service.chart import med_concepts
    from cds_service.chart.facts import MedicationClass

    for _ in range(2):  # the second time from what was remembered
        found = med_concepts.classify(KB, product)
        assert found == med_concepts._classify(KB, product)
        assert list(found) == list(med_concepts._classify(KB, product))
        found.clear()  # the caller's own
    for med_class in MedicationClass:
        assert med_concepts.ingredient_name(KB, med_class, product) == med_concepts._ingredient_name(
            KB, med_class, product)


def _read_route_as_before(lines: list, kb):
    from cds_service.chart.dosage import _route_word
    from cds_service.chart.facts import Route
    from cds_service.chart.fhir_types import as_dict, codings

    routes = kb.dosing.routes
    for line in lines:
        route = as_dict(line.get("route"))
        for system, code, _ in codings(route):
            for entry in routes.codes:
                if entry.code == code and kb.canonical_system(entry.system) == kb.canonical_system(system):
                    return Route(entry.route)
        texts = [as_str(route.get("text")), *(display for _, _, display in codings(route))]
        for text in [*texts, as_str(line.get("text"))]:
            found = _route_word(text or "", routes.text)
            if found:
                return Route(found)
    return Route.UNKNOWN


_ROUTE_CODES = sorted({(e.system, e.code) for e in KB.dosing.routes.codes})
_route_codings = st.sampled_from([{"system": s, "code": c} for s, c in _ROUTE_CODES]) | _codings
_routes = st.fixed_dictionaries({}, optional={"coding": st.lists(_route_codings, max_size=2) | _route_codings,
                                              "text": st.sampled_from(["IM", "by mouth", "oral", "", "x"]) | _JUNK})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={"route": _routes | _JUNK, "text": st.sampled_from(
    ["1 mg IM every 3 months", "5 mg by mouth", "", "sc"]) | _JUNK}), max_size=3))
def test_routes_are_read_as_before(lines: list) -> None:
    from cds_service.chart.dosage import read_route

    assert read_route(lines, KB) is _read_route_as_before(lines, KB)


# --- unit multipliers remembered per table (quantities._table_multiplier) ------------------------------------

_UNIT_TEXTS = ["g/dL", " g/dl ", "g/L", "fL", "pmol/L", "pg/mL", "ng/L", "µmol/L", "umol/L", "mg", "MG", "mcg", "ug",
               "tablet", "", "x"]
_UNIT_LISTS = st.lists(st.builds(Unit, st.sampled_from(_UNIT_TEXTS), st.booleans()), max_size=3)


@settings(max_examples=400, deadline=None)
@given(_UNIT_LISTS, st.sampled_from([*Analyte, None]))
def test_a_remembered_multiplier_is_the_plain_one(units: list, analyte: Analyte | None) -> None:
    from cds_service.chart.quantities import _table_multiplier, unit_multiplier

    table = KB.dose_units if analyte is None else KB.lab_units[analyte]
    for _ in range(2):  # the second time from what was remembered
        assert _table_multiplier(table, tuple(units)) == unit_multiplier(units, table)


_VALUES = st.fixed_dictionaries({}, optional={
    "valueQuantity": st.fixed_dictionaries({}, optional={
        "value": st.floats() | st.integers() | _JUNK, "unit": _units, "code": _units, "comparator": st.sampled_from(
            ["<", ">=", "=", "", "~"]) | _JUNK, "system": st.sampled_from([UCUM, "urn:x", ""]) | _JUNK}) | _JUNK,
    "valueString": st.sampled_from(["<100 pmol/L", "150", "12.5 g/dL", "1,500", "high", ""]) | _JUNK,
    "valueInteger": st.integers(-5, 500) | _JUNK, "referenceRange": st.lists(_RANGES, max_size=2) | _RANGES})


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.sampled_from(list(Analyte)), st.sampled_from([None, ("2132-9", "pg/mL"), ("x", "g/dL")]))
def test_values_are_measured_as_with_the_plain_multiplier(resource: dict, analyte: Analyte, implied) -> None:
    from cds_service.chart import quantities

    table, canonical = KB.lab_units[analyte], KB.analytes.analytes[analyte].canonicalUnit
    resource = {"resourceType": "Observation", **resource}
    found = quantities.measure(resource, table, canonical, implied)
    low_high = quantities.read_reference_range(resource, table, found[1])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quantities, "_table_multiplier", lambda table, units: quantities.unit_multiplier(units, table))
        patch.setattr(quantities, "_units_in", lambda table, quantity: (
            units := tuple(quantity_units(quantity)), quantities.unit_multiplier(units, table) if units else None))
        assert quantities.measure(resource, table, canonical, implied) == found
        assert quantities.read_reference_range(resource, table, found[1]) == low_high


# --- a Condition's code read once (problems.read_condition) ---------------------------------------------------

def _code_pairs_as_before(concept: object) -> tuple:
    from cds_service.chart.fhir_types import as_dict

    pairs = []
    for coding in as_items(as_dict(concept).get("coding")):
        code = as_str(as_dict(coding).get("code"))
        if code:
            pairs.append((as_str(coding.get("system")) or "", code))
    return tuple(pairs)


@settings(max_examples=500, deadline=None)
@given(_concepts)
def test_code_pairs_are_read_as_before(concept: object) -> None:
    from cds_service.chart.matching import code_pairs

    assert code_pairs(concept) == _code_pairs_as_before(concept)


def _read_condition_as_before(resource: object, kb) -> tuple:
    """``problems.read_condition`` as it was before the code was read once for all its uses."""
    from cds_service.chart import problems as p
    from cds_service.chart.elements import unreadable, unreadable_notes
    from cds_service.chart.fhir_types import first_code, parse_fhir_date, period_date
    from cds_service.chart.matching import mentions_family_history

    if not isinstance(resource, dict) or resource.get("resourceType") != "Condition":
        return (), ()
    clinical = first_code(resource.get("clinicalStatus"))
    verification = first_code(resource.get("verificationStatus"))
    found = p.categories(kb, resource.get("code"))
    if not found or verification == "entered-in-error":
        return (), ()
    if mentions_family_history(kb, [resource.get("code"), *as_items(resource.get("category"))]):
        return (), ()
    defects = unreadable(resource)
    onset = parse_fhir_date(resource.get("onsetDateTime")) or period_date(resource.get("onsetPeriod"), "start")
    active = p.condition_counts(resource, clinical, verification)
    status_unread = any(key in defects for key in ("clinicalStatus", "verificationStatus"))
    ended = any(key.startswith("abatement") for key in resource)
    problems = tuple(p.Problem(category=category, display=concept_label(resource.get("code")), clinical_status=clinical,
                               verification_status=verification, onset=onset, active=active and not (
                                   status_unread and category in p.LOWERING), source_ref=resource_ref(resource),
                               matched_by=evidence, recorded=parse_fhir_date(resource.get("recordedDate")), ended=ended)
                     for category, evidence in found.items())
    return problems, unreadable_notes(resource, defects)


_PROBLEM_TEXTS = ["Peripheral neuropathy", "no neuropathy", "FH: pernicious anaemia",
                  "Family history of B12 deficiency", "Pregnancy", "ectopic pregnancy", "CKD stage 4",
                  "gastrectomy", "Crohn's disease", " ", ""]
_PROBLEM_CODES = sorted({c.code for name, vs in KB.value_sets.items() if name.startswith("problem_") for c in vs.codes})
_problem_codings = st.fixed_dictionaries({}, optional={
    "system": st.sampled_from(["http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm", "urn:local", ""]) | _JUNK,
    "code": st.sampled_from(_PROBLEM_CODES[:80]) | _codes, "display": st.sampled_from(_PROBLEM_TEXTS) | _JUNK})
_PROBLEM_CODINGS = sorted({(c.system, c.code) for name, vs in KB.value_sets.items() if name.startswith("problem_")
                           for c in vs.codes})
_known_problems = st.fixed_dictionaries({"text": st.sampled_from(_PROBLEM_TEXTS[:-2])}, optional={
    "coding": st.lists(st.builds(lambda sc, display: {"system": sc[0], "code": sc[1], "display": display},
                                 st.sampled_from(_PROBLEM_CODINGS), st.sampled_from(_PROBLEM_TEXTS) | _JUNK)
                       | _problem_codings, min_size=1, max_size=2)})
_problem_concepts = st.fixed_dictionaries({}, optional={
    "coding": st.lists(_problem_codings, max_size=2) | _problem_codings,
    "text": st.sampled_from(_PROBLEM_TEXTS) | _JUNK})
_statuses = st.fixed_dictionaries({}, optional={"coding": st.lists(st.fixed_dictionaries({}, optional={
    "code": st.sampled_from(["active", "inactive", "resolved", "relapse", "confirmed", "refuted", "entered-in-error",
                             " active ", ""]) | _JUNK}), max_size=2) | _JUNK}) | _JUNK
_DATES = st.sampled_from(["2024-03-01", "2024-03", "yesterday", ""]) | _JUNK


@settings(max_examples=600, deadline=None)
@given(st.fixed_dictionaries({"resourceType": st.just("Condition"),  # a code in most: a category found
                              "code": st.integers(0, 4).flatmap(
                                  lambda n: _known_problems if n < 3 else _problem_concepts)}, optional={
    "id": st.sampled_from(["c1", ""]) | _JUNK,
    "category": st.lists(_problem_concepts, max_size=2) | _problem_concepts | _JUNK,
    "clinicalStatus": _statuses, "verificationStatus": _statuses, "onsetDateTime": _DATES,
    "onsetPeriod": st.fixed_dictionaries({}, optional={"start": _DATES}) | _JUNK, "recordedDate": _DATES,
    "abatementDateTime": _DATES, "abatementString": st.just("in remission")}))
def test_conditions_are_read_as_before(resource: dict) -> None:
    from cds_service.chart.problems import read_condition

    assert read_condition(resource, KB) == _read_condition_as_before(resource, KB)


def test_the_pregnancy_tests_and_labs_read_the_codes_once_as_before() -> None:
    from fixture_tools import iter_fixture_calls
    from helpers import load_json

    from cds_service.chart.labs import observation_codes, read_labs
    from cds_service.chart.pregnancy import read_pregnancy_tests

    for fixture in iter_fixture_calls():
        body = load_json(fixture.request_path)
        observations = [e.get("resource") for v in body.get("prefetch", {}).values()
                        if isinstance(v, dict) and v.get("resourceType") == "Bundle" for e in v.get("entry", [])]
        codes = observation_codes(observations)
        assert read_labs(observations, KB, codes) == read_labs(observations, KB)
        assert read_pregnancy_tests(observations, KB, codes) == read_pregnancy_tests(observations, KB)
