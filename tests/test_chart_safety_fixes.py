"""Chart-layer safety fixes, each test named by the clinical scenario that failed before the fix.

Draft orders that are no longer live, product strength in the drug name, negated / family-history
text, family-history Conditions, and ATC class codes.
"""

from __future__ import annotations

import pytest
from builders.cards import run
from builders.fhir import (
    ATC,
    RXNORM,
    SNOMED,
    chart_from_fhir,
    concept,
    condition,
    medication_request,
    observation,
    quantity,
)

from cds_service.chart.facts import MedicationClass, ProblemCategory

FOLIC_ACID_5MG = concept(None, None, text="Folic acid 5 mg tablet")
IM = {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}]}
SIGN = "folic-acid-safety-sign"


def _daily(amount: float, unit: str | None = "tablet", **extra: object) -> dict:
    """One dosage line: ``amount`` of ``unit`` once a day (unit None: a bare count)."""
    dose = {"value": amount} | ({"unit": unit} if unit else {})
    return {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": dose}], **extra}


def _draft(medication: dict, *, id: str, status: str = "draft", **fields: object) -> dict:
    return medication_request(medication, id=id, status=status, intent="proposal", **fields)


def _b12_150() -> dict:
    return observation("2132-9", id="b12-low", valueQuantity=quantity(150, "ng/L"))


# --- fix 1: draft orders that are not live ---------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "stopped", "completed", "revoked"])
def test_folic_acid_draft_that_was_cancelled_or_stopped_never_triggers(status: str) -> None:
    draft = _draft(FOLIC_ACID_5MG, id="fa", status=status, dosageInstruction=[_daily(1)])
    built = chart_from_fhir(draft_orders=[draft], observations=[_b12_150()])
    assert built.draft_orders == ()
    assert run(SIGN, built) == []


@pytest.mark.parametrize("status", ["draft", "active", "on-hold"])
def test_folic_acid_draft_that_is_live_still_triggers(status: str) -> None:
    draft = _draft(FOLIC_ACID_5MG, id="fa", status=status, dosageInstruction=[_daily(1)])
    (card,) = run(SIGN, chart_from_fhir(draft_orders=[draft], observations=[_b12_150()]))
    assert card.indicator == "critical"


def test_cancelled_hydroxocobalamin_draft_is_not_b12_alongside_folic_acid() -> None:
    folic = _draft(FOLIC_ACID_5MG, id="fa", dosageInstruction=[_daily(1)])
    hydroxo = _draft(concept(None, None, text="Hydroxocobalamin 1 mg/mL injection"), id="hx", status="cancelled",
                     dosageInstruction=[{"route": IM, "text": "1 mg IM every 3 months"}])
    (card,) = run(SIGN, chart_from_fhir(draft_orders=[folic, hydroxo], observations=[_b12_150()]))
    assert card.indicator == "critical"


# --- fix 3: dose from the product strength -------------------------------------------------------


@pytest.mark.parametrize(
    ("medication", "line", "expected"),
    [
        (concept(RXNORM, "198640", "folic acid 0.4 MG Oral Tablet"), _daily(1, "tablet"), 0.4),
        (FOLIC_ACID_5MG, _daily(1, None), 5),
        (concept(None, None, text="Folic acid 5 mg tablet"), _daily(2, "tablets"), 10),
        (concept(None, None, text="Folic acid 400 micrograms tablets"), _daily(1, "{tbl}"), 0.4),
    ],
)
def test_folic_acid_dose_in_tablets_is_read_from_the_strength_in_the_name(medication, line, expected) -> None:
    built = chart_from_fhir(draft_orders=[_draft(medication, id="fa", dosageInstruction=[line])])
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
    line = _daily(1, "tablet", route={"text": "oral"})
    (use,) = chart_from_fhir(draft_orders=[_draft(medication, id="b12", dosageInstruction=[line])]).draft_orders
    assert use.med_class is MedicationClass.B12_THERAPY
    assert use.daily_dose_mg == pytest.approx(1.0)


def test_folic_acid_with_oral_b12_1mg_tablet_in_the_same_draft_is_silent() -> None:
    folic = _draft(FOLIC_ACID_5MG, id="fa", dosageInstruction=[_daily(1)])
    b12 = _draft(concept(RXNORM, "309593", "vitamin B12 1 MG Oral Tablet"), id="b12",
                 dosageInstruction=[_daily(1, "tablet", text="1 tablet by mouth once daily")])
    assert run(SIGN, chart_from_fhir(draft_orders=[folic, b12], observations=[_b12_150()])) == []


@pytest.mark.parametrize(
    "text",
    [
        "Folic acid 0.4 mg / ferrous fumarate 200 mg tablet",  # two strengths: never guess
        "Folic acid 5 mg tablet (0.4 mg)",  # contradictory strengths
        "Folic acid tablet",  # no strength
    ],
)
def test_folic_acid_product_with_several_or_no_strengths_keeps_an_unknown_dose(text: str) -> None:
    draft = _draft(concept(None, None, text=text), id="fa", dosageInstruction=[_daily(1)])
    (use,) = chart_from_fhir(draft_orders=[draft]).draft_orders
    assert use.daily_dose_mg is None


def test_strength_per_millilitre_is_not_applied_to_a_tablet_count() -> None:
    draft = _draft(concept(None, None, text="Folic acid 2.5 mg/5 mL oral solution"), id="fa",
                   dosageInstruction=[_daily(1, "tablet")])
    (use,) = chart_from_fhir(draft_orders=[draft]).draft_orders
    assert use.daily_dose_mg is None


# --- fix 4: negation and family history in text ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Family history of pernicious anaemia",
        "FH: pernicious anemia",
        "Pernicious anaemia - family history",
        "Mother had pernicious anaemia (family hx)",
    ],
)
def test_family_history_of_pernicious_anaemia_text_is_not_a_malabsorption_cause(text: str) -> None:
    assert chart_from_fhir(conditions=[condition(concept(None, None, text=text))]).problems == ()


@pytest.mark.parametrize(
    "text",
    [
        "Diabetic neuropathy screening negative",
        "No neuropathy",
        "Neuropathy ruled out",
        "Ruled out: peripheral neuropathy",
        "?neuropathy",
        "? peripheral neuropathy",
        "Peripheral neuropathy excluded",
        "Negative for peripheral neuropathy",
    ],
)
def test_negated_or_queried_neuropathy_text_is_not_neurological_involvement(text: str) -> None:
    assert chart_from_fhir(conditions=[condition(concept(None, None, text=text))]).problems == ()


@pytest.mark.parametrize(
    "text",
    [
        "Peripheral neuropathy, no improvement on gabapentin",
        "Peripheral neuropathy; B12 not yet checked",
        "Diabetic neuropathy",
    ],
)
def test_neuropathy_text_with_unrelated_negation_later_still_counts(text: str) -> None:
    (found,) = chart_from_fhir(conditions=[condition(concept(None, None, text=text))]).problems
    assert found.category is ProblemCategory.NEUROPATHY


def test_coded_neuropathy_is_unaffected_by_negation_words_in_its_text() -> None:
    coded = concept(SNOMED, "302226006", "Peripheral nerve disease", text="Peripheral neuropathy - not diabetic")
    (found,) = chart_from_fhir(conditions=[condition(coded)]).problems
    assert found.category is ProblemCategory.NEUROPATHY


def test_condition_in_a_family_history_category_never_counts() -> None:
    coded = concept(SNOMED, "302226006", "Peripheral nerve disease")
    family = condition(coded, category=[{"text": "Family history"}])
    assert chart_from_fhir(conditions=[family]).problems == ()


def test_condition_coded_as_a_family_history_concept_never_counts() -> None:
    local = concept("http://example.org/local-codes", "FH-PA", "Family history of pernicious anaemia")
    assert chart_from_fhir(conditions=[condition(local)]).problems == ()


# --- fix 5: ATC class codes are prefixes ----------------------------------------------------------


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


def test_folic_acid_draft_without_a_status_is_read_as_a_live_draft():
    draft = {"resourceType": "MedicationRequest", "id": "no-status", "intent": "order",
             "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "Folic acid 5 mg tablet"}}
    built = chart_from_fhir(draft_orders=[draft])
    [order] = built.draft_orders
    assert order.active and order.is_draft and order.source_ref == "MedicationRequest/no-status"
    assert any("without a usable status" in note for note in built.notes)
