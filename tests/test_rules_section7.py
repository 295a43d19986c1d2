"""B12-RULES.md §7 (clarifications after real-world records): one test per case, from FHIR JSON to cards.

Charts are built from FHIR R4 JSON by the chart layer (``builders.fhir``), then run through the
services' evaluators, so each case is checked the way an EHR's data reaches the rules.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders.cards import run
from builders.fhir import (
    ICD10CM,
    LOINC,
    RXNORM,
    SNOMED,
    TODAY,
    chart_from_fhir,
    concept,
    condition,
    dose,
    medication_request,
    medication_statement,
    observation,
    patient,
    procedure,
    quantity,
)

from cds_service.chart.facts import MedicationClass, ProblemCategory, Route
from cds_service.knowledge import load_knowledge
from cds_service.rules.assessment import assess
from cds_service.rules.therapy import counts_as_b12_replacement

KB = load_knowledge()
chart = chart_from_fhir
SIGN, SELECT, STATUS = "folic-acid-safety-sign", "folic-acid-safety-select", "b12-status"
PATIENT = patient("female", "1990-05-01")


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def folic_draft(text: str = "Folic acid 5 mg tablet", value: float = 5, unit: str = "mg", **fields) -> dict:
    return medication_request({"text": text}, id="draft-fa", status="draft",
                              dosageInstruction=[dose(value, unit)], **fields)


def kinds(service: str, selections: tuple[str, ...] = (), **data) -> list[tuple[str, str]]:
    built = chart(patient=data.pop("patient", PATIENT), **data)
    return [(c.indicator, c.source.topic.code) for c in run(service, built, selections=selections)]


def b12_obs(value: float, on: str = day(-20), id: str = "b12") -> dict:
    return observation(id=id, valueQuantity=quantity(value, "ng/L"), effectiveDateTime=on)


# --- Units ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("unit", ["{pill}", "{tbl}", "{tablet}", "{capsule}"])
def test_ucum_annotation_is_a_count_of_one_unit_of_the_product(unit):
    draft = folic_draft("Folic Acid 1 MG Oral Tablet", 1, unit)
    (use,) = chart(draft_orders=[draft]).draft_orders
    assert use.daily_dose_mg == 1.0


def test_egfr_in_ml_per_min_is_read_and_applies_the_renal_caveat_without_a_note():
    egfr = observation("33914-3", id="gfr", valueQuantity=quantity(24.873465293, "mL/min"))
    built = chart(observations=[egfr])
    (lab,) = built.labs
    assert (lab.unit, round(lab.value, 2), built.notes) == ("mL/min/{1.73_m2}", 24.87, ())
    assert assess(built, KB).status.renal.applies


# --- B12 therapy from the product ---------------------------------------------------------------------

def test_injectable_b12_product_without_dosage_is_injected_replacement():
    order = medication_request(concept(RXNORM, "2001499", "Vitamin B 12 5 MG/ML Injectable Solution"))
    (use,) = chart(medication_requests=[order]).medications
    assert (use.med_class, use.route) == (MedicationClass.B12_THERAPY, Route.INJECTION)
    assert counts_as_b12_replacement(use, KB)


def test_medication_form_injection_decides_the_route():
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "Cyanocobalamin 1000 mcg/mL"},
                  "form": {"coding": [{"system": SNOMED, "code": "385219001", "display": "Injection"}]}}
    order = medication_request(medicationReference={"reference": "Medication/m1"})
    (use,) = chart(medication_requests=[order], medications={"Medication/m1": medication}).medications
    assert use.route is Route.INJECTION and counts_as_b12_replacement(use, KB)


def test_oral_b12_product_without_a_dose_does_not_count():
    order = medication_request({"text": "Vitamin B12 1000 MCG Oral Tablet"})
    (use,) = chart(medication_requests=[order]).medications
    assert use.route is Route.UNKNOWN and not counts_as_b12_replacement(use, KB)


# --- Pregnancy ----------------------------------------------------------------------------------------

PREGNANCY = concept(SNOMED, "72892002", "Normal pregnancy")


@pytest.mark.parametrize(("fields", "lowered"), [
    ({"onsetDateTime": day(-77)}, True),  # 11 weeks
    ({"onsetDateTime": day(-7 * 43)}, False),  # 43 weeks ago: not current
    ({"recordedDate": day(-30)}, True),  # no onset: recorded within 42 weeks
    ({"onsetDateTime": day(-77), "abatementDateTime": day(-10)}, False),  # ended
])
def test_only_a_current_pregnancy_lowers_the_folic_acid_card(fields, lowered):
    found = kinds(SIGN, conditions=[condition(PREGNANCY, **fields)], draft_orders=[folic_draft(value=0.4)],
                  observations=[observation("718-7", id="hb", valueQuantity=quantity(9.5, "g/dL"))])
    assert found == [("info" if lowered else "warning", "folate_not_tested_risk")]


@pytest.mark.parametrize("code", [
    concept(SNOMED, "79586000", "Tubal pregnancy"), concept(SNOMED, "34801009", "Ectopic pregnancy"),
    {"text": "Molar pregnancy"}, concept(ICD10CM, "O00.1", "Tubal pregnancy"),
])
def test_ectopic_tubal_or_molar_pregnancy_never_lowers(code):
    found = kinds(SIGN, conditions=[condition(code, onsetDateTime=day(-30))],
                  draft_orders=[folic_draft(value=0.4)], observations=[b12_obs(250)])
    assert found == [("warning", "folate_indeterminate")]


def test_lowered_card_says_pregnancy_is_why():
    built = chart(patient=PATIENT, conditions=[condition(PREGNANCY, onsetDateTime=day(-77))],
                  draft_orders=[folic_draft(value=0.4)], observations=[b12_obs(250)])
    (card,) = run(SIGN, built)
    assert card.indicator == "info" and "because of pregnancy" in card.detail
    assert card.summary.startswith("Pregnancy")


@pytest.mark.parametrize(("code", "answer", "lowered"), [
    ("82810-3", concept(LOINC, "LA15173-0", "Pregnant"), True),
    ("82810-3", concept(SNOMED, "60001007", "Not pregnant"), False),
    ("2106-3", concept(SNOMED, "10828004", "Positive"), True),
    ("2106-3", {"text": "Negative"}, False),
])
def test_pregnancy_test_within_42_weeks_counts_when_positive(code, answer, lowered):
    test = observation(code, id="preg", valueCodeableConcept=answer, effectiveDateTime=day(-14))
    found = kinds(SIGN, observations=[test, b12_obs(250)], draft_orders=[folic_draft(value=0.4)])
    assert found == [("info" if lowered else "warning", "folate_indeterminate")]


def test_positive_pregnancy_test_older_than_42_weeks_does_not_count():
    test = observation("82810-3", id="preg", valueCodeableConcept=concept(LOINC, "LA15173-0", "Pregnant"),
                       effectiveDateTime=day(-7 * 45))
    found = kinds(SIGN, observations=[test, b12_obs(250)], draft_orders=[folic_draft(value=0.4)])
    assert found == [("warning", "folate_indeterminate")]


def test_pregnancy_with_folic_acid_above_5_mg_is_not_lowered():
    found = kinds(SIGN, conditions=[condition(PREGNANCY, onsetDateTime=day(-77))],
                  draft_orders=[folic_draft(value=10)], observations=[b12_obs(250)])
    assert found == [("warning", "folate_indeterminate")]


# --- Problems -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [
    concept(SNOMED, "26929004", "Alzheimer's disease"), concept(ICD10CM, "F01.50", "Vascular dementia"),
    {"text": "Mild cognitive impairment"}, {"text": "Dementia, unspecified"},
])
def test_dementia_of_any_cause_is_neurological_involvement_for_testing(code):
    assert kinds(STATUS, conditions=[condition(code)]) == [("warning", "not_tested")]


def test_purely_motor_neuropathy_counts_as_neurological_and_gets_the_atypical_card():
    motor = condition(concept(ICD10CM, "G61.82", "Multifocal motor neuropathy"))
    assert kinds(STATUS, conditions=[motor]) == [("warning", "not_tested"), ("info", "pure_motor")]


@pytest.mark.parametrize(("text", "found"), [
    ("Resection of terminal ileum (45 cm)", True),
    ("Ileum, terminal: resection", False),  # across clauses: not read as one concept
    ("No resection of terminal ileum", False),
    ("Family history: resection of terminal ileum", False),
])
def test_text_concepts_match_in_any_word_order_with_negation_and_family_history(text, found):
    built = chart(procedures=[procedure({"text": text})], conditions=[condition({"text": text}, id="c2")])
    categories = {p.category for p in built.problems}
    assert (ProblemCategory.ILEAL_RESECTION in categories) is found


# --- Deceased -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("death", [{"deceasedBoolean": True}, {"deceasedDateTime": "1979-04-02T10:00:00Z"}])
def test_deceased_patient_gets_no_patient_view_card(death):
    assert kinds(STATUS, patient={**PATIENT, **death}, observations=[b12_obs(120)]) == []


def test_unreadable_death_keeps_the_cards_and_is_named():
    built = chart(patient={**PATIENT, "deceasedBoolean": "yes"}, observations=[b12_obs(120)])
    assert [c.indicator for c in run(STATUS, built)] == ["warning"]
    assert built.notes == ("Patient/pat-1: deceasedBoolean could not be read (not true or false)",)


# --- Folate triggers and B12 in the draft orders --------------------------------------------------------

@pytest.mark.parametrize(("text", "triggers"), [
    ("Calcium folinate 15 mg tablet", False), ("Leucovorin calcium 5 mg tablet", False),
    ("Folinic acid 15 mg", False), ("L-methylfolate 15 mg tablet", True),
])
def test_folinic_acid_is_not_a_trigger_but_l_methylfolate_is(text, triggers):
    found = kinds(SIGN, draft_orders=[folic_draft(text, value=15)], observations=[b12_obs(150)])
    assert found == ([("critical", "folate_deficient")] if triggers else [])


def test_b12_therapy_in_any_draft_order_of_the_call_selected_or_not_silences():
    hydroxo = medication_request({"text": "Hydroxocobalamin 1 mg/mL injection"}, id="draft-b12", status="draft",
                                 dosageInstruction=[dose(1, "mg", period=2, route={"text": "IM"})])
    found = kinds(SELECT, ("MedicationRequest/draft-fa",), draft_orders=[folic_draft(), hydroxo],
                  observations=[b12_obs(150)])
    assert found == []


# --- "Risk factors" at folic-acid orders -----------------------------------------------------------------

@pytest.mark.parametrize("data", [
    {"conditions": [condition(concept(ICD10CM, "E53.8", "Deficiency of other specified B group vitamins"))]},
    {"conditions": [condition(concept(ICD10CM, "D51.9", "Vitamin B12 deficiency anemia, unspecified"))]},
    {"conditions": [condition({"text": "Coeliac disease"})]},
    {"medication_statements": [medication_statement({"text": "Famotidine 20 mg tablet"},
                                                    effectivePeriod={"start": day(-400)})]},
    {"conditions": [condition({"text": "Vegan diet"})]},
])
def test_risk_factors_make_the_untested_folic_acid_card_a_warning(data):
    assert kinds(SIGN, draft_orders=[folic_draft()], **data) == [("warning", "folate_not_tested_risk")]


# --- Labs -----------------------------------------------------------------------------------------------

def test_stale_low_b12_is_not_tested_with_risk_factors_and_the_card_names_it():
    old = b12_obs(150, on=day(-600), id="old")
    built = chart(patient=PATIENT, observations=[old], draft_orders=[folic_draft()])
    (folate,) = run(SIGN, built)
    assert (folate.indicator, folate.source.topic.code) == ("warning", "folate_not_tested_risk")
    assert f"150 ng/L on {day(-600)}" in folate.detail
    (status,) = run(STATUS, built)
    assert (status.source.topic.code, f"150 ng/L on {day(-600)}" in status.detail) == ("not_tested", True)


def test_raised_mma_without_b12_suggests_serum_b12():
    mma = observation("13964-2", id="mma", valueQuantity=quantity(0.62, "umol/L"), effectiveDateTime=day(-10))
    (card,) = run(STATUS, chart(patient=PATIENT, observations=[mma]))
    assert (card.indicator, card.source.topic.code) == ("info", "indeterminate")
    (suggestion,) = card.suggestions
    assert suggestion.actions[0].resource["code"]["coding"][0]["code"] == "2132-9"


def test_normal_mma_without_b12_is_silent():
    mma = observation("13964-2", id="mma", valueQuantity=quantity(0.2, "umol/L"), effectiveDateTime=day(-10))
    assert kinds(STATUS, observations=[mma]) == []


@pytest.mark.parametrize(("offset", "used"), [(1, True), (2, False), (30, False)])
def test_results_dated_more_than_a_day_ahead_are_not_used_and_noted(offset, used):
    built = chart(patient=PATIENT, observations=[b12_obs(150, on=day(offset), id="future")],
                  conditions=[condition({"text": "Peripheral neuropathy"})])
    (card,) = run(STATUS, built)
    assert card.source.topic.code == ("deficient_neuro" if used else "not_tested")
    assert ("dated in the future" in card.detail) is not used


# --- Durations --------------------------------------------------------------------------------------------

def _metformin(start: str, end: str | None = None, status: str = "active") -> dict:
    period = {"start": start} | ({"end": end} if end else {})
    return medication_statement({"text": "Metformin 500 mg tablet"}, status=status, effectivePeriod=period)


@pytest.mark.parametrize(("start", "past"), [("2025-11-15", False), ("2025-11-14", True)])
def test_months_are_calendar_months(start, past):
    (risk,) = assess(chart(patient=PATIENT, medication_statements=[_metformin(start)]), KB).risk_medicines
    assert risk.past_duration is past


@pytest.mark.parametrize(("months", "past"), [(11, False), (13, True)])
def test_h2_receptor_antagonists_take_the_ppi_duration(months, past):
    start = (TODAY - timedelta(days=round(months * 30.5))).isoformat()
    famotidine = medication_statement({"text": "Famotidine 20 mg"}, effectivePeriod={"start": start})
    (risk,) = assess(chart(patient=PATIENT, medication_statements=[famotidine]), KB).risk_medicines
    assert risk.past_duration is past


@pytest.mark.parametrize(("end", "counts"), [(day(-75), True), (day(-400), False)])
def test_long_course_stopped_within_12_months_counts(end, counts):
    record = _metformin("2019-01-01", end, status="completed")
    built = chart(patient=PATIENT, medication_statements=[record])
    assert bool(assess(built, KB).current_risk_medicines) is counts
    assert kinds(STATUS, medication_statements=[record]) == ([("info", "not_tested")] if counts else [])
