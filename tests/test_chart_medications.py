"""MedicationStatement / MedicationRequest / draft orders -> MedicationUse."""

from __future__ import annotations

from datetime import date

import pytest
from builders.fhir import (
    ATC,
    FOLIC_ACID_5MG,
    IM,
    RXNORM,
    SNOMED,
    TODAY,
    chart_from_fhir,
    concept,
    daily,
    dose,
    draft_order,
    kb,
    medication_request,
    medication_statement,
    quantity,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.chart.facts import MedicationClass, Route
from cds_service.chart.medications import read_medication

METFORMIN = concept(RXNORM, "6809", "metformin")
FOLIC_ACID = concept(RXNORM, "4511", "folic acid")
CYANOCOBALAMIN = concept(RXNORM, "11248", "vitamin B12")


def only_use(**data: object):
    """Return the single MedicationUse on record in a chart built from ``data``."""
    built = chart_from_fhir(**data)
    assert len(built.medications) == 1, built
    return built.medications[0]


# --- recognising the drug -----------------------------------------------------------------------


def test_rxnorm_ingredient_code_is_recognised() -> None:
    use = only_use(medication_requests=[medication_request(METFORMIN)])
    assert (use.med_class, use.ingredient, use.matched_by) == (
        MedicationClass.METFORMIN,
        "metformin",
        "rxnorm:6809",
    )
    assert use.source_ref == "MedicationRequest/mr-1"


def test_rxnorm_clinical_drug_code_names_the_ingredient() -> None:
    tablet = concept(RXNORM, "314200", "pantoprazole 40 MG Delayed Release Oral Tablet")
    use = only_use(medication_statements=[medication_statement(tablet)])
    assert (use.med_class, use.ingredient) == (MedicationClass.PPI, "pantoprazole")
    assert use.display == "pantoprazole 40 MG Delayed Release Oral Tablet"


def test_atc_code_is_recognised() -> None:
    use = only_use(medication_statements=[medication_statement(concept(ATC, "A10BA02"))])
    assert (use.med_class, use.matched_by) == (MedicationClass.METFORMIN, "atc:A10BA02")


def test_text_only_medication_is_recognised_by_brand_name() -> None:
    use = only_use(medication_statements=[medication_statement({"text": "Glucophage XR 500mg"})])
    assert (use.med_class, use.matched_by) == (MedicationClass.METFORMIN, "text:glucophage xr")


def test_unrelated_medication_is_ignored() -> None:
    lisinopril = concept(RXNORM, "29046", "lisinopril")
    assert chart_from_fhir(medication_requests=[medication_request(lisinopril)]).medications == ()


def test_contained_medication_is_resolved() -> None:
    contained = {"resourceType": "Medication", "id": "med", "code": METFORMIN}
    request = medication_request(contained=[contained], medicationReference={"reference": "#med"})
    use = only_use(medication_requests=[request])
    assert use.med_class is MedicationClass.METFORMIN


def test_referenced_medication_is_resolved_from_the_fetched_medications() -> None:
    medication = {"resourceType": "Medication", "id": "m7", "code": concept(RXNORM, "7646", "omeprazole")}
    request = medication_request(medicationReference={"reference": "https://ehr.example/fhir/Medication/m7"})
    built = chart_from_fhir(medication_requests=[request], medications={"Medication/m7": medication})
    assert [u.med_class for u in built.medications] == [MedicationClass.PPI]
    assert built.notes == ()


def test_unresolved_reference_is_noted_and_matched_on_its_display() -> None:
    request = medication_request(
        medicationReference={"reference": "Medication/gone", "display": "Omeprazole 20mg"}
    )
    built = chart_from_fhir(medication_requests=[request])
    assert [u.med_class for u in built.medications] == [MedicationClass.PPI]
    assert built.notes == (
        "MedicationRequest/mr-1: medication Medication/gone could not be resolved; "
        "recognised by its display text 'Omeprazole 20mg' only",
    )


def test_ingredient_codes_of_a_medication_count() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "combo",
        "code": {"text": "Compound tablet"},
        "ingredient": [{"itemCodeableConcept": METFORMIN}],
    }
    request = medication_request(medicationReference={"reference": "Medication/combo"})
    use = only_use(medication_requests=[request], medications={"Medication/combo": medication})
    assert use.med_class is MedicationClass.METFORMIN


def test_folate_and_cobalamin_product_is_a_combination_not_folic_acid() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "fb",
        "code": {"text": "Folbic tablet"},
        "ingredient": [{"itemCodeableConcept": FOLIC_ACID}, {"itemCodeableConcept": CYANOCOBALAMIN}],
    }
    request = medication_request(medicationReference={"reference": "Medication/fb"})
    use = only_use(medication_requests=[request], medications={"Medication/fb": medication})
    assert use.med_class is MedicationClass.B12_FOLATE_COMBINATION


def test_combination_named_in_text_wins_over_folic_acid() -> None:
    text = {"text": "Folic acid 2.5 mg / cyanocobalamin 1 mg tablet"}
    use = only_use(medication_statements=[medication_statement(text)])
    assert use.med_class is MedicationClass.B12_FOLATE_COMBINATION


def test_unreadable_medication_code_falls_back_to_the_display_and_is_named() -> None:
    medication = {"resourceType": "Medication", "id": "m", "code": "folic acid"}  # code must be a concept
    request = medication_request(
        medicationReference={"reference": "Medication/m", "display": "Folic acid 5 mg"}
    )
    built = chart_from_fhir(medication_requests=[request], medications={"Medication/m": medication})
    assert [u.med_class for u in built.medications] == [MedicationClass.FOLIC_ACID]
    assert built.notes == ("Medication/m: code could not be read (not an object)",)


def test_unreadable_start_is_named_and_the_record_kept_without_a_start() -> None:
    request = medication_request(METFORMIN, authoredOn="last week")
    built = chart_from_fhir(medication_requests=[request])
    assert [(u.med_class, u.start) for u in built.medications] == [(MedicationClass.METFORMIN, None)]
    assert built.notes == (
        "MedicationRequest/mr-1: authoredOn could not be read ('last week' is not a FHIR date)",)


# --- ATC class codes are prefixes ----------------------------------------------------------


@pytest.mark.parametrize(("code", "cls"), [("A02BC01", MedicationClass.PPI), ("A02BC05", MedicationClass.PPI),
                                           ("A02BA03", MedicationClass.H2RA)])
def test_atc_substance_code_without_a_display_is_recognised_under_its_class(code: str, cls) -> None:
    built = chart_from_fhir(medication_statements=[{"resourceType": "MedicationStatement", "id": "ms-atc",
                                          "status": "active", "subject": {"reference": "Patient/pat-1"},
                                          "medicationCodeableConcept": concept(ATC, code)}])
    (use,) = built.medications
    assert use.med_class is cls
    assert use.matched_by == f"atc:{code}"


def test_atc_ingredient_level_code_matches_exactly_not_as_a_prefix() -> None:
    built = chart_from_fhir(medication_statements=[{"resourceType": "MedicationStatement", "id": "ms-atc",
                                          "status": "active", "subject": {"reference": "Patient/pat-1"},
                                          "medicationCodeableConcept": concept(ATC, "A10BA")}])
    assert built.medications == ()


# --- route and dose --------------------------------------------------------------------------------


def test_intramuscular_route_from_snomed() -> None:
    request = medication_request(
        CYANOCOBALAMIN, dosageInstruction=[dose(1, "mg", period=1, period_unit="mo", route=IM)]
    )
    use = only_use(medication_requests=[request])
    assert use.route is Route.INTRAMUSCULAR
    assert use.daily_dose_mg == pytest.approx(1 / 30.4375)


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"coding": [{"system": SNOMED, "code": "26643006"}]}, Route.ORAL),
        ({"coding": [{"system": SNOMED, "code": "34206005"}]}, Route.SUBCUTANEOUS),
        ({"text": "By mouth"}, Route.ORAL),
        ({"text": "IM"}, Route.INTRAMUSCULAR),
        ({"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}, Route.OTHER),
        ({"text": "topical"}, Route.UNKNOWN),
    ],
)
def test_route_is_read_from_code_or_words(route: dict, expected: Route) -> None:
    request = medication_request(METFORMIN, dosageInstruction=[{"route": route}])
    assert only_use(medication_requests=[request]).route is expected


def test_route_in_free_dosage_text_counts() -> None:
    request = medication_request(CYANOCOBALAMIN, dosageInstruction=[{"text": "1 mg IM every 3 months"}])
    assert only_use(medication_requests=[request]).route is Route.INTRAMUSCULAR


@pytest.mark.parametrize(
    ("value", "unit", "frequency", "period", "period_unit", "expected"),
    [
        (500, "mg", 2, 1, "d", 1000),
        (1, "g", 1, 1, "d", 1000),
        (400, "ug", 1, 1, "d", 0.4),
        (1000, "mcg", 1, 1, "d", 1),
        (5, "mg", 1, 1, "wk", 5 / 7),
        (1, "mg", 3, 1, "wk", 3 / 7),
        (1, "mg", 1, 2, "d", 0.5),
    ],
)
def test_daily_dose_in_mg_from_dose_and_timing(
    value: float, unit: str, frequency: int, period: float, period_unit: str, expected: float
) -> None:
    line = dose(value, unit, frequency=frequency, period=period, period_unit=period_unit)
    request = medication_request(FOLIC_ACID, dosageInstruction=[line])
    assert only_use(medication_requests=[request]).daily_dose_mg == pytest.approx(expected)


def test_daily_dose_from_a_timing_abbreviation() -> None:
    line = {
        "timing": {"code": {"coding": [{"code": "BID"}]}},
        "doseAndRate": [{"doseQuantity": quantity(500, "mg")}],
    }
    request = medication_request(METFORMIN, dosageInstruction=[line])
    assert only_use(medication_requests=[request]).daily_dose_mg == 1000


def test_dose_in_tablets_uses_the_medication_strength() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "fa",
        "code": FOLIC_ACID,
        "ingredient": [
            {
                "itemCodeableConcept": FOLIC_ACID,
                "strength": {"numerator": quantity(5, "mg"), "denominator": {"value": 1, "unit": "tablet"}},
            }
        ],
    }
    line = dose(1, "tablet", frequency=1)
    line["doseAndRate"][0]["doseQuantity"] = {"value": 1, "unit": "tablet"}
    request = medication_request(medicationReference={"reference": "Medication/fa"}, dosageInstruction=[line])
    use = only_use(medication_requests=[request], medications={"Medication/fa": medication})
    assert use.daily_dose_mg == 5


@pytest.mark.parametrize(
    "dosage",
    [
        [],
        [{"text": "as directed"}],
        [
            {
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            }
        ],
        [{"doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mg"}}]}],
    ],
)
def test_dose_that_cannot_be_computed_is_none(dosage: list) -> None:
    request = medication_request(FOLIC_ACID, dosageInstruction=dosage)
    assert only_use(medication_requests=[request]).daily_dose_mg is None


def test_concurrent_lines_add_and_phases_take_the_largest() -> None:
    morning_and_evening = [dose(500, "mg", sequence=1), dose(1000, "mg", sequence=1)]
    assert (
        only_use(
            medication_requests=[medication_request(METFORMIN, dosageInstruction=morning_and_evening)]
        ).daily_dose_mg
        == 1500
    )
    loading_then_maintenance = [
        dose(1, "mg", period=2, sequence=1),
        dose(1, "mg", period=2, period_unit="mo", sequence=2),
    ]
    assert (
        only_use(
            medication_requests=[
                medication_request(CYANOCOBALAMIN, dosageInstruction=loading_then_maintenance)
            ]
        ).daily_dose_mg
        == 0.5
    )


# --- dose from the product strength -------------------------------------------------------


@pytest.mark.parametrize(
    ("medication", "line", "expected"),
    [
        (concept(RXNORM, "198640", "folic acid 0.4 MG Oral Tablet"), daily(1, "tablet"), 0.4),
        (FOLIC_ACID_5MG, daily(1, None), 5),
        (concept(None, None, text="Folic acid 5 mg tablet"), daily(2, "tablets"), 10),
        (concept(None, None, text="Folic acid 400 micrograms tablets"), daily(1, "{tbl}"), 0.4),
    ],
)
def test_folic_acid_dose_in_tablets_is_read_from_the_strength_in_the_name(medication, line, expected) -> None:
    built = chart_from_fhir(draft_orders=[draft_order(medication, id="fa", dosageInstruction=[line])])
    (use,) = built.draft_orders
    assert use.med_class is MedicationClass.FOLIC_ACID
    assert use.daily_dose_mg == pytest.approx(expected)


@pytest.mark.parametrize(
    "medication",
    [
        concept(RXNORM, "309593", "vitamin B12 1 MG Oral Tablet"),
        concept(None, None, text="cyanocobalamin 1000 MCG oral tablet"),
        concept(None, None, text="B12 1 mg tablet"),
    ],
)
def test_oral_b12_1mg_tablet_dose_is_read_from_the_strength_in_the_name(medication) -> None:
    line = daily(1, "tablet", route={"text": "oral"})
    (use,) = chart_from_fhir(draft_orders=[draft_order(medication, id="b12", dosageInstruction=[line])]).draft_orders
    assert use.med_class is MedicationClass.B12_THERAPY
    assert use.daily_dose_mg == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text",
    [
        "Folic acid 0.4 mg / ferrous fumarate 200 mg tablet",  # two strengths: never guess
        "Folic acid 5 mg tablet (0.4 mg)",  # contradictory strengths
        "Folic acid tablet",  # no strength
    ],
)
def test_folic_acid_product_with_several_or_no_strengths_keeps_an_unknown_dose(text: str) -> None:
    draft = draft_order(concept(None, None, text=text), id="fa", dosageInstruction=[daily(1)])
    (use,) = chart_from_fhir(draft_orders=[draft]).draft_orders
    assert use.daily_dose_mg is None


def test_strength_per_millilitre_is_not_applied_to_a_tablet_count() -> None:
    draft = draft_order(concept(None, None, text="Folic acid 2.5 mg/5 mL oral solution"), id="fa",
                   dosageInstruction=[daily(1, "tablet")])
    (use,) = chart_from_fhir(draft_orders=[draft]).draft_orders
    assert use.daily_dose_mg is None


# --- dates and status ---------------------------------------------------------------------------------


def test_request_start_prefers_validity_start_over_authored_on() -> None:
    request = medication_request(
        METFORMIN,
        authoredOn="2025-01-02",
        dispenseRequest={"validityPeriod": {"start": "2025-01-10", "end": "2026-12-31"}},
    )
    use = only_use(medication_requests=[request])
    assert (use.start, use.end) == (date(2025, 1, 10), date(2026, 12, 31))


def test_request_start_falls_back_to_authored_on() -> None:
    use = only_use(medication_requests=[medication_request(METFORMIN, authoredOn="2025-01-02T09:00:00Z")])
    assert use.start == date(2025, 1, 2)


def test_statement_dates_come_from_the_effective_period() -> None:
    statement = medication_statement(METFORMIN, effectivePeriod={"start": "2020-05", "end": "2027"})
    use = only_use(medication_statements=[statement])
    assert (use.start, use.end, use.active) == (date(2020, 5, 1), date(2027, 12, 31), True)


def test_statement_effective_date_time_is_a_start() -> None:
    use = only_use(medication_statements=[medication_statement(METFORMIN, effectiveDateTime="2024-02-03")])
    assert use.start == date(2024, 2, 3)


def test_end_from_the_dosing_bounds() -> None:
    line = {"timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01", "end": "2026-02-01"}}}}
    use = only_use(medication_requests=[medication_request(METFORMIN, dosageInstruction=[line])])
    assert (use.start, use.end, use.active) == (date(2026, 1, 1), date(2026, 2, 1), False)


def test_medicine_ended_before_today_is_not_active() -> None:
    statement = medication_statement(METFORMIN, effectivePeriod={"start": "2020-01-01", "end": "2026-03-14"})
    assert not only_use(medication_statements=[statement]).active


def test_medicine_ending_today_is_still_active() -> None:
    statement = medication_statement(METFORMIN, effectivePeriod={"end": TODAY.isoformat()})
    assert only_use(medication_statements=[statement]).active


@pytest.mark.parametrize(
    ("kind", "status", "active"),
    [
        ("request", "active", True),
        ("request", "on-hold", True),
        ("request", "draft", False),
        ("request", "completed", False),
        ("request", "stopped", False),
        ("request", "cancelled", False),
        ("statement", "active", True),
        ("statement", "intended", True),
        ("statement", "completed", False),
        ("statement", "stopped", False),
        ("statement", "not-taken", False),
    ],
)
def test_active_follows_status(kind: str, status: str, active: bool) -> None:
    if kind == "request":
        use = only_use(medication_requests=[medication_request(METFORMIN, status=status)])
    else:
        use = only_use(medication_statements=[medication_statement(METFORMIN, status=status)])
    assert use.active is active


def test_entered_in_error_records_are_dropped() -> None:
    built = chart_from_fhir(
        medication_requests=[medication_request(METFORMIN, status="entered-in-error")],
        medication_statements=[medication_statement(METFORMIN, status="entered-in-error")],
    )
    assert built.medications == ()


# --- draft orders ------------------------------------------------------------------------------------------


def test_draft_folic_acid_order_is_an_active_draft() -> None:
    draft = medication_request(FOLIC_ACID, status="draft", dosageInstruction=[dose(5, "mg")])
    built = chart_from_fhir(draft_orders=[draft])
    assert built.medications == ()
    (use,) = built.draft_orders
    assert (use.med_class, use.is_draft, use.active, use.daily_dose_mg) == (
        MedicationClass.FOLIC_ACID,
        True,
        True,
        5,
    )


def test_non_medication_drafts_are_ignored() -> None:
    nutrition = {
        "resourceType": "NutritionOrder",
        "id": "n",
        "status": "draft",
        "intent": "order",
        "patient": {"reference": "Patient/pat-1"},
        "dateTime": "2026-03-15",
    }
    service = {
        "resourceType": "ServiceRequest",
        "id": "s",
        "status": "draft",
        "intent": "order",
        "code": {"text": "Folate level"},
        "subject": {"reference": "Patient/pat-1"},
    }
    statement = medication_statement(FOLIC_ACID, status="active")
    built = chart_from_fhir(draft_orders=[nutrition, service, statement, "junk"])
    assert (built.draft_orders, built.notes) == ((), ())


# --- never raises ------------------------------------------------------------------------------------------

_garbage = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_medication_fields = st.fixed_dictionaries(
    {
        "resourceType": st.sampled_from(["MedicationRequest", "MedicationStatement"]),
        "status": st.sampled_from(["active", "draft", "completed", "entered-in-error", "intended"]),
        "subject": st.just({"reference": "Patient/pat-1"}),
    },
    optional={
        "medicationCodeableConcept": st.sampled_from([METFORMIN, FOLIC_ACID, {"text": "folic acid 5mg"}]),
        "contained": st.just([{"resourceType": "Medication", "id": "c", "code": CYANOCOBALAMIN}]),
        "authoredOn": st.sampled_from(["2025", "2025-01-02", "bad"]),
    },
)
_references = st.sampled_from(
    [
        {},
        {"medicationReference": {"reference": "#c"}},
        {"medicationReference": {"reference": "Medication/m"}},
        {"medicationReference": {"reference": "Medication/x", "display": "b12"}},
    ]
)


def _shape(base: dict, reference: dict, lines: list, broken: dict) -> dict:
    """Return a request or statement with its dosage lines in the right element."""
    element = "dosageInstruction" if base["resourceType"] == "MedicationRequest" else "dosage"
    intent = {"intent": "order"} if base["resourceType"] == "MedicationRequest" else {}
    if reference:
        base = {k: v for k, v in base.items() if k != "medicationCodeableConcept"}
    return {**base, **intent, **reference, element: lines, **broken}


# Mostly well-formed records (so the parser past validation is exercised), sometimes with one
# element replaced by garbage (so validation and the defensive helpers are exercised too).
_medications = st.builds(
    _shape,
    _medication_fields,
    _references,
    st.lists(
        st.just(dose(1, "mg")) | st.just(dose(2, "mcg", frequency=3)) | st.just({"text": "IM"}), max_size=2
    ),
    st.dictionaries(
        st.sampled_from(["medicationCodeableConcept", "medicationReference", "contained", "dispenseRequest"]),
        _garbage,
        max_size=1,
    )
    | st.just({}),
)


@settings(max_examples=200, deadline=None)
@given(_medications, st.booleans(), _garbage)
def test_medication_parser_never_raises(resource: dict, is_draft: bool, medication: object) -> None:
    medications = {
        "Medication/m": medication if isinstance(medication, dict) else {"resourceType": "Medication"}
    }
    uses, notes = read_medication(resource, kb(), medications=medications, today=TODAY, is_draft=is_draft)
    assert all(isinstance(note, str) for note in notes)
    assert all(use.daily_dose_mg is None or use.daily_dose_mg >= 0 for use in uses)
