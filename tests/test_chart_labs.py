"""Observations -> LabResult: status, values, units, comparators, dates, ranges, flags."""

from __future__ import annotations

import math
from datetime import date

import pytest
from builders.fhir import V3_INTERPRETATION, chart_from_fhir, kb, observation, only_lab, quantity
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.chart.facts import Analyte, Comparator, DataIssue, Interpretation
from cds_service.chart.labs import read_observation

# --- units -------------------------------------------------------------------------------


def test_b12_in_pmol_per_litre_is_converted_to_ng_per_litre() -> None:
    lab = only_lab(observation("14685-2", valueQuantity=quantity(100, "pmol/L")))
    assert lab.analyte is Analyte.B12_TOTAL
    assert lab.value == pytest.approx(135.5)
    assert lab.unit == "ng/L"
    assert lab.reported == "100 pmol/L"
    assert lab.code == "14685-2"
    assert lab.usable


@pytest.mark.parametrize(
    ("code", "value", "unit", "analyte", "expected"),
    [
        ("2132-9", 250, "pg/mL", Analyte.B12_TOTAL, 250),
        ("2132-9", 250, "ng/L", Analyte.B12_TOTAL, 250),
        ("14685-2", 133, "pmol/l", Analyte.B12_TOTAL, 180.215),
        ("72160-5", 30, "pmol/L", Analyte.B12_ACTIVE, 30),
        ("13964-2", 0.5, "umol/L", Analyte.MMA, 0.5),
        ("13964-2", 0.5, "µmol/L", Analyte.MMA, 0.5),  # micro sign U+00B5
        ("13964-2", 0.5, "μmol/L", Analyte.MMA, 0.5),  # Greek mu U+03BC
        ("13964-2", 450, "nmol/L", Analyte.MMA, 0.45),
        ("13964-2", 0.45, "nmol/mL", Analyte.MMA, 0.45),
        ("13965-9", 15, "umol/L", Analyte.HOMOCYSTEINE, 15),
        ("2428-1", 2.7, "mg/L", Analyte.HOMOCYSTEINE, 20),
        ("718-7", 13.5, "g/dL", Analyte.HAEMOGLOBIN, 13.5),
        ("718-7", 135, "g/L", Analyte.HAEMOGLOBIN, 13.5),
        ("787-2", 104, "fL", Analyte.MCV, 104),
        ("777-3", 250, "10*3/uL", Analyte.PLATELETS, 250),
        ("777-3", 250, "10*9/L", Analyte.PLATELETS, 250),
        ("26515-7", 250, "10^9/L", Analyte.PLATELETS, 250),
        ("777-3", 250, "x10E3/uL", Analyte.PLATELETS, 250),
        ("98979-8", 25, "mL/min/{1.73_m2}", Analyte.EGFR, 25),
        ("62238-1", 25, "mL/min/1.73m2", Analyte.EGFR, 25),
        ("2284-8", 5, "ng/mL", Analyte.FOLATE, 5),
        ("14732-2", 10, "nmol/L", Analyte.FOLATE, 4.41),
    ],
)
def test_every_accepted_unit_converts_to_the_canonical_unit(
    code: str, value: float, unit: str, analyte: Analyte, expected: float
) -> None:
    lab = only_lab(observation(code, valueQuantity=quantity(value, unit, ucum=False)))
    assert lab.analyte is analyte
    assert lab.value == pytest.approx(expected, rel=1e-3)
    assert lab.unit == kb().analytes.analytes[analyte.value].canonicalUnit


def test_whitespace_in_a_unit_is_ignored() -> None:
    lab = only_lab(observation("2132-9", valueQuantity=quantity(300, "pg / mL", ucum=False)))
    assert lab.value == 300


def test_ucum_code_is_case_sensitive_but_the_human_unit_is_tried_next() -> None:
    miscased = {"value": 300, "system": "http://unitsofmeasure.org", "code": "PG/ML"}
    assert only_lab(observation(valueQuantity=miscased)).issues == (DataIssue.UNKNOWN_UNIT,)
    with_human_unit = miscased | {"unit": "PG/ML"}
    assert only_lab(observation(valueQuantity=with_human_unit)).value == 300


def test_human_unit_in_another_case_is_accepted_when_its_size_is_unambiguous() -> None:
    lab = only_lab(observation("13964-2", valueQuantity=quantity(0.3, "NMOL/ML", ucum=False)))
    assert lab.value == pytest.approx(0.3)


def test_unknown_unit_is_reported_with_a_note_and_never_converted() -> None:
    built = chart_from_fhir(observations=[observation("2132-9", id="9", valueQuantity=quantity(300, "mg"))])
    (lab,) = built.labs
    assert lab.value is None
    assert lab.unit == "mg"
    assert lab.issues == (DataIssue.UNKNOWN_UNIT,)
    assert not lab.usable
    assert built.notes == (
        "Observation/9: unit 'mg' for b12_total (300 mg) cannot be converted; value not used",
    )


def test_value_without_any_unit_borrows_the_reference_range_unit() -> None:
    lab = only_lab(
        observation(
            "14685-2", valueQuantity={"value": 100}, referenceRange=[{"low": quantity(133, "pmol/L")}]
        )
    )
    assert lab.value == pytest.approx(135.5)


def test_value_without_any_unit_is_read_in_the_unit_its_loinc_code_implies() -> None:
    built = chart_from_fhir(observations=[observation("14685-2", id="m", valueQuantity={"value": 100})])
    (lab,) = built.labs
    assert (lab.value, lab.reported, lab.usable) == (pytest.approx(135.5), "100", True)
    assert built.notes == (
        "Observation/m: no unit sent; read in pmol/L, the unit LOINC 14685-2 implies (b12_total 100)",
    )


def test_bare_value_string_on_the_mass_b12_code_is_read_in_ng_per_litre() -> None:
    lab = only_lab(observation("2132-9", valueString="150"))
    assert (lab.value, lab.unit, lab.reported) == (150, "ng/L", "150")


@pytest.mark.parametrize("code", ["13964-2", "718-7"])  # MMA: nmol/L or umol/L; Hb: g/dL or g/L
def test_value_without_unit_is_unknown_where_the_code_allows_several_scales(code: str) -> None:
    built = chart_from_fhir(observations=[observation(code, valueQuantity={"value": 100})])
    assert built.labs[0].issues == (DataIssue.UNKNOWN_UNIT,)
    assert "no unit" in built.notes[0]


# --- comparators and value strings --------------------------------------------------------


@pytest.mark.parametrize(
    ("comparator", "expected"),
    [("<", Comparator.LT), (">", Comparator.GT), ("<=", Comparator.LE), (">=", Comparator.GE)],
)
def test_quantity_comparator_is_kept(comparator: str, expected: Comparator) -> None:
    lab = only_lab(observation(valueQuantity=quantity(100, "pg/mL", comparator=comparator)))
    assert lab.comparator is expected
    assert lab.value == 100
    assert lab.reported == f"{comparator}100 pg/mL"


def test_value_above_the_assay_range_keeps_its_comparator() -> None:
    lab = only_lab(observation(valueQuantity=quantity(2000, "ng/L", comparator=">")))
    assert (lab.comparator, lab.value, lab.usable) == (Comparator.GT, 2000, True)


def test_value_string_with_comparator_and_unit_is_parsed() -> None:
    lab = only_lab(observation("14685-2", valueString="<100 pmol/L"))
    assert lab.comparator is Comparator.LT
    assert lab.value == pytest.approx(135.5)
    assert lab.reported == "<100 pmol/L"


def test_value_string_with_unit_is_parsed() -> None:
    lab = only_lab(observation(valueString="150 pg/mL"))
    assert (lab.value, lab.comparator, lab.usable) == (150, Comparator.EQ, True)


def test_bare_value_string_takes_the_unit_of_the_reference_range() -> None:
    lab = only_lab(observation(valueString="<100", referenceRange=[{"low": quantity(180, "ng/L")}]))
    assert (lab.value, lab.comparator) == (100, Comparator.LT)


@pytest.mark.parametrize("text", ["see comment", "1,500 pg/mL", "150,5", "negative", "-5 pg/mL"])
def test_value_string_that_is_not_a_plain_number_is_non_numeric(text: str) -> None:
    lab = only_lab(observation(valueString=text))
    assert lab.value is None
    assert lab.issues == (DataIssue.NON_NUMERIC,)
    assert lab.reported == text


def test_coded_value_is_non_numeric() -> None:
    lab = only_lab(observation(valueCodeableConcept={"text": "haemolysed"}))
    assert lab.issues == (DataIssue.NON_NUMERIC,)
    assert lab.reported == "haemolysed"


def test_absent_value_is_no_value() -> None:
    assert only_lab(observation()).issues == (DataIssue.NO_VALUE,)


def test_data_absent_reason_is_no_value() -> None:
    lab = only_lab(observation(dataAbsentReason={"coding": [{"code": "error"}], "text": "clotted"}))
    assert lab.value is None
    assert lab.issues == (DataIssue.NO_VALUE,)


# --- status ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_results_are_usable(status: str) -> None:
    assert only_lab(observation(status=status, valueQuantity=quantity(150, "ng/L"))).usable


@pytest.mark.parametrize(
    ("status", "issue"),
    [
        ("registered", DataIssue.NOT_FINAL),
        ("preliminary", DataIssue.NOT_FINAL),
        ("unknown", DataIssue.NOT_FINAL),
        ("cancelled", DataIssue.CANCELLED),
        ("entered-in-error", DataIssue.ENTERED_IN_ERROR),
    ],
)
def test_results_that_are_not_final_are_kept_with_their_issue(status: str, issue: DataIssue) -> None:
    lab = only_lab(observation(status=status, valueQuantity=quantity(150, "ng/L")))
    assert lab.issues == (issue,)
    assert lab.value == 150  # kept for context; never usable
    assert not lab.usable


def test_stale_is_left_to_the_rules() -> None:
    lab = only_lab(observation(effectiveDateTime="2001-01-01", valueQuantity=quantity(150, "ng/L")))
    assert lab.usable
    assert DataIssue.STALE not in lab.issues


# --- dates ------------------------------------------------------------------------------------


def test_effective_date_time_with_time_zone_keeps_the_written_date() -> None:
    lab = only_lab(
        observation(effectiveDateTime="2026-03-01T23:30:00-05:00", valueQuantity=quantity(1, "ng/L"))
    )
    assert lab.effective == date(2026, 3, 1)


def test_effective_period_start_is_used_when_there_is_no_date_time() -> None:
    obs = observation(valueQuantity=quantity(150, "ng/L"), effectivePeriod={"start": "2026-02-10T08:00:00Z"})
    del obs["effectiveDateTime"]
    assert only_lab(obs).effective == date(2026, 2, 10)


def test_issued_is_only_a_fallback() -> None:
    obs = observation(valueQuantity=quantity(150, "ng/L"), issued="2026-03-05T09:00:00Z")
    assert only_lab(obs).effective == date(2026, 3, 2)
    del obs["effectiveDateTime"]
    assert only_lab(obs).effective == date(2026, 3, 5)


def test_result_without_any_date_is_no_date() -> None:
    obs = observation(valueQuantity=quantity(150, "ng/L"))
    del obs["effectiveDateTime"]
    lab = only_lab(obs)
    assert lab.effective is None
    assert lab.issues == (DataIssue.NO_DATE,)


def test_labs_are_newest_first_with_undated_last() -> None:
    undated = observation(id="u", valueQuantity=quantity(1, "ng/L"))
    del undated["effectiveDateTime"]
    built = chart_from_fhir(
        observations=[
            observation(id="old", effectiveDateTime="2024-01-01", valueQuantity=quantity(1, "ng/L")),
            undated,
            observation(id="new", effectiveDateTime="2026-01-01", valueQuantity=quantity(1, "ng/L")),
        ]
    )
    assert [lab.source_ref for lab in built.labs] == ["Observation/new", "Observation/old", "Observation/u"]


# --- reference range and interpretation --------------------------------------------------------


def test_reference_range_is_converted_to_the_canonical_unit() -> None:
    lab = only_lab(
        observation(
            "13964-2",
            valueQuantity=quantity(500, "nmol/L"),
            referenceRange=[{"low": quantity(0, "nmol/L"), "high": quantity(400, "nmol/L")}],
        )
    )
    assert (lab.value, lab.reference_low, lab.reference_high) == (
        pytest.approx(0.5),
        pytest.approx(0.0),
        pytest.approx(0.4),
    )


def test_reference_bound_without_unit_is_in_the_value_unit() -> None:
    lab = only_lab(
        observation(
            "14685-2", valueQuantity=quantity(100, "pmol/L"), referenceRange=[{"low": {"value": 133}}]
        )
    )
    assert lab.reference_low == pytest.approx(180.215)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("L", Interpretation.LOW),
        ("LL", Interpretation.LOW),
        ("H", Interpretation.HIGH),
        ("HH", Interpretation.HIGH),
        ("N", Interpretation.NORMAL),
        ("A", None),
    ],
)
def test_interpretation_codes_are_reduced(code: str, expected: Interpretation | None) -> None:
    flag = [{"coding": [{"system": V3_INTERPRETATION, "code": code}]}]
    lab = only_lab(observation(valueQuantity=quantity(150, "ng/L"), interpretation=flag))
    assert lab.interpretation is expected


# --- identification ---------------------------------------------------------------------------------


def test_unrelated_observations_are_ignored() -> None:
    built = chart_from_fhir(observations=[observation("2160-0", valueQuantity=quantity(1.0, "mg/dL"))])
    assert built.labs == () and built.notes == ()


def test_uncoded_result_is_recognised_by_its_name() -> None:
    lab = only_lab(observation(None, text="Serum B12", valueQuantity=quantity(150, "ng/L")))
    assert (lab.analyte, lab.code) == (Analyte.B12_TOTAL, "")


def test_the_most_specific_name_wins() -> None:
    lab = only_lab(observation(None, text="Active B12", valueQuantity=quantity(20, "pmol/L")))
    assert lab.analyte is Analyte.B12_ACTIVE


def test_loinc_coded_result_outside_the_value_sets_is_not_matched_by_name() -> None:
    # "Vitamin B12 unsaturated binding capacity" (LOINC 2134-5) must not pass for a B12 level.
    obs = observation(
        "2134-5", text="Vitamin B12 unsaturated binding capacity", valueQuantity=quantity(900, "pg/mL")
    )
    assert chart_from_fhir(observations=[obs]).labs == ()


def test_a_name_naming_two_tests_is_not_guessed() -> None:
    built = chart_from_fhir(observations=[observation(None, id="x", text="B12 and folate", valueString="see report")])
    assert built.labs == ()
    assert built.notes == (
        "Observation/x 'B12 and folate' matches several tests (b12_total, folate); not used",
    )


def test_an_unreadable_date_is_named_and_the_result_kept_without_a_date() -> None:
    broken = observation(id="bad", valueQuantity=quantity(150, "ng/L"), effectiveDateTime="yesterday")
    built = chart_from_fhir(observations=[broken])
    assert [lab.issues for lab in built.labs] == [(DataIssue.NO_DATE,)]
    assert built.notes == (
        "Observation/bad: effectiveDateTime could not be read ('yesterday' is not a FHIR date)",)


def test_defects_in_elements_the_rules_do_not_read_change_nothing() -> None:
    clean = observation(id="ok", valueQuantity=quantity(150, "ng/L"), effectiveDateTime="2026-03-01")
    noisy = {**clean, "category": {"coding": "laboratory"}, "note": "see lab", "performer": 7,
             "extension": [{"url": 3}], "meta": {"tag": "x"}, "subject": "Patient/1"}
    assert chart_from_fhir(observations=[noisy]) == chart_from_fhir(observations=[clean])


def test_duplicate_observations_are_read_once() -> None:
    obs = observation(valueQuantity=quantity(150, "ng/L"))
    assert len(chart_from_fhir(observations=[obs, dict(obs)]).labs) == 1


# --- never raises ------------------------------------------------------------------------------------

_numbers = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.none(),
    st.text(max_size=6),
)
_units = st.sampled_from(
    ["pg/mL", "pmol/L", "µmol/L", "nmol/L", "mg", "", " ", "10^9/L", "PMOL/L"]
) | st.text(max_size=6)
_quantities = st.fixed_dictionaries(
    {},
    optional={
        "value": _numbers,
        "unit": _units,
        "code": _units,
        "system": st.sampled_from(["http://unitsofmeasure.org", "urn:x"]),
        "comparator": st.sampled_from(["<", ">", "<=", ">=", "ad"]),
    },
)
_garbage = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_dates = st.sampled_from(
    ["2026-03-02", "2026", "2026-02", "2026-02-30", "2026-03-01T10:00:00+14:00", "0001-01-01", "x"]
)
_codes = st.sampled_from(
    [
        {"coding": [{"system": "http://loinc.org", "code": c}]}
        for c in ("2132-9", "14685-2", "13964-2", "777-3")
    ]
    + [{"text": "B12"}, {"text": "active b12 and mma"}, {"coding": [{"system": "http://loinc.org"}]}]
)
_values = st.one_of(
    st.fixed_dictionaries({"valueQuantity": _quantities}),
    st.fixed_dictionaries(
        {"valueString": st.text(max_size=12) | st.sampled_from(["<100", "150 pg/mL", ".5 umol/L"])}
    ),
    st.fixed_dictionaries({"valueInteger": st.integers()}),
    st.fixed_dictionaries({"dataAbsentReason": st.just({"text": "error"})}),
    st.just({}),
)
_fields = st.fixed_dictionaries(
    {
        "resourceType": st.just("Observation"),
        "code": _codes,
        "status": st.sampled_from(
            ["final", "amended", "preliminary", "entered-in-error", "cancelled", "unknown"]
        ),
        "effectiveDateTime": st.sampled_from(["2026-03-02", "2025-11", "2026-03-01T10:00:00+14:00"]),
    },
    optional={
        "id": st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True),
        "effectivePeriod": st.fixed_dictionaries({}, optional={"start": _dates, "end": _dates}),
        "issued": st.sampled_from(["2026-03-05T09:00:00Z", "2026-03-05T09:00:00+01:00", "2026-03"]),
        "referenceRange": st.lists(
            st.fixed_dictionaries({}, optional={"low": _quantities, "high": _quantities}), max_size=2
        ),
        "interpretation": st.lists(
            st.fixed_dictionaries(
                {
                    "coding": st.lists(
                        st.fixed_dictionaries(
                            {"code": st.sampled_from(["L", "H", "N", "X"])},
                            optional={
                                "system": st.just(
                                    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
                                )
                            },
                        ),
                        max_size=2,
                    )
                }
            ),
            max_size=2,
        ),
    },
)
# Mostly well-formed resources (so the parser past validation is exercised), sometimes with
# one field replaced by garbage (so validation and the defensive helpers are exercised too).
_observations = st.builds(
    lambda base, value, broken: {**base, **value, **broken},
    _fields,
    _values,
    st.dictionaries(
        st.sampled_from(["code", "valueQuantity", "status", "effectiveDateTime", "referenceRange"]),
        _garbage,
        max_size=1,
    )
    | st.just({}),
)


@settings(max_examples=300, deadline=None)
@given(_observations)
def test_lab_parser_never_raises_on_arbitrary_observations(resource: dict) -> None:
    result, notes = read_observation(resource, kb())
    assert all(isinstance(note, str) for note in notes)
    if result is not None:
        if result.value is not None:
            assert math.isfinite(result.value)
        if {DataIssue.NO_VALUE, DataIssue.NON_NUMERIC, DataIssue.UNKNOWN_UNIT} & set(result.issues):
            assert result.value is None
