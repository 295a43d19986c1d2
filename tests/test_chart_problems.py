"""Conditions, surgical Procedures and the Patient -> Problem and Patient facts."""

from __future__ import annotations

from datetime import date

import pytest
from builders.fhir import ICD10CM, SNOMED, chart_from_fhir, concept, condition, procedure

from cds_service.chart.facts import DataSet, ProblemCategory

NEUROPATHY = concept(SNOMED, "302226006", "Peripheral nerve disease")


def only_problem(*conditions: dict, procedures: tuple[dict, ...] = ()):
    """Return the single Problem read from ``conditions`` and ``procedures``."""
    built = chart_from_fhir(conditions=list(conditions), procedures=list(procedures))
    assert len(built.problems) == 1, built
    return built.problems[0]


# --- recognising the problem ------------------------------------------------------------------


def test_snomed_coded_neuropathy_is_recognised() -> None:
    problem = only_problem(condition(NEUROPATHY, onsetDateTime="2025-06-01T00:00:00+02:00"))
    assert problem.category is ProblemCategory.NEUROPATHY
    assert (problem.display, problem.matched_by) == ("Peripheral nerve disease", "snomed:302226006")
    assert (problem.onset, problem.source_ref) == (date(2025, 6, 1), "Condition/cond-1")
    assert problem.active


def test_icd10cm_code_is_recognised() -> None:
    problem = only_problem(condition(concept(ICD10CM, "D51.0", "Pernicious anemia")))
    assert (problem.category, problem.matched_by) == (ProblemCategory.PERNICIOUS_ANAEMIA, "icd10cm:D51.0")


def test_icd10cm_child_code_matches_a_prefix_set() -> None:
    problem = only_problem(condition(concept(ICD10CM, "G62.9")))
    assert (problem.category, problem.matched_by) == (ProblemCategory.NEUROPATHY, "icd10cm:G62.9")


def test_text_only_condition_is_recognised() -> None:
    assert only_problem(condition({"text": "Coeliac disease"})).category is ProblemCategory.COELIAC_DISEASE


def test_purely_motor_neuropathy_in_words_is_not_also_a_neuropathy() -> None:
    problem = only_problem(condition({"text": "Pure motor neuropathy"}))
    assert problem.category is ProblemCategory.MOTOR_NEUROPATHY


def test_one_condition_can_fall_in_two_categories() -> None:
    built = chart_from_fhir(conditions=[condition({"text": "Dementia due to cobalamin deficiency"})])
    assert {p.category for p in built.problems} == {
        ProblemCategory.COGNITIVE_IMPAIRMENT,
        ProblemCategory.B12_DEFICIENCY,
    }


def test_unrelated_condition_is_ignored() -> None:
    built = chart_from_fhir(conditions=[condition(concept(SNOMED, "38341003", "Hypertension"))])
    assert (built.problems, built.notes) == ((), ())


def test_unreadable_onset_is_named_and_the_problem_kept() -> None:
    built = chart_from_fhir(conditions=[condition(NEUROPATHY, id="c9", onsetDateTime="last spring")])
    assert [(p.category, p.onset) for p in built.problems] == [(ProblemCategory.NEUROPATHY, None)]
    assert built.notes == ("Condition/c9: onsetDateTime could not be read ('last spring' is not a FHIR date)",)


# --- negation and family history in text ---------------------------------------------------


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


# --- statuses -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clinical", "verification", "active"),
    [
        ("active", "confirmed", True),
        ("recurrence", "confirmed", True),
        ("relapse", "provisional", True),
        ("active", "unconfirmed", True),
        ("inactive", "confirmed", False),
        ("remission", "confirmed", False),
        ("resolved", "confirmed", False),
        ("active", "refuted", False),
        (None, "confirmed", True),
        (None, None, True),
        (None, "refuted", False),
    ],
)
def test_active_follows_clinical_and_verification_status(
    clinical: str | None, verification: str | None, active: bool
) -> None:
    problem = only_problem(condition(NEUROPATHY, clinical=clinical, verification=verification))
    assert (problem.clinical_status, problem.verification_status, problem.active) == (
        clinical,
        verification,
        active,
    )


def test_condition_without_clinical_status_but_with_abatement_is_over() -> None:
    problem = only_problem(condition(NEUROPATHY, clinical=None, abatementDateTime="2025-01-01"))
    assert not problem.active


def test_entered_in_error_condition_is_dropped() -> None:
    built = chart_from_fhir(conditions=[condition(NEUROPATHY, clinical=None, verification="entered-in-error")])
    assert built.problems == ()


# --- procedures --------------------------------------------------------------------------------------


def test_completed_gastrectomy_procedure_is_a_lasting_problem() -> None:
    gastrectomy = procedure(
        concept(SNOMED, "53442002", "Excision of stomach"), performedDateTime="2010-04-02"
    )
    problem = only_problem(procedures=(gastrectomy,))
    assert (problem.category, problem.onset, problem.active) == (
        ProblemCategory.GASTRECTOMY,
        date(2010, 4, 2),
        True,
    )
    assert problem.source_ref == "Procedure/proc-1"


def test_bariatric_procedure_by_text_with_period() -> None:
    bypass = procedure(
        {"text": "Laparoscopic Roux-en-Y gastric bypass"}, performedPeriod={"start": "2019-09"}
    )
    problem = only_problem(procedures=(bypass,))
    assert (problem.category, problem.onset) == (ProblemCategory.BARIATRIC_SURGERY, date(2019, 9, 1))


def test_ileal_resection_procedure_by_text() -> None:
    problem = only_problem(procedures=(procedure({"text": "Ileal resection (40 cm)"}),))
    assert problem.category is ProblemCategory.ILEAL_RESECTION


@pytest.mark.parametrize("status", ["preparation", "in-progress", "not-done", "entered-in-error", "unknown"])
def test_procedure_that_did_not_complete_is_ignored(status: str) -> None:
    gastrectomy = procedure(concept(SNOMED, "53442002"), status=status)
    assert chart_from_fhir(procedures=[gastrectomy]).problems == ()


def test_non_surgical_procedure_categories_are_not_read() -> None:
    assert chart_from_fhir(procedures=[procedure({"text": "Neuropathy assessment"})]).problems == ()


# --- patient ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        ("1950-03-07", date(1950, 3, 7)),
        ("1950-03", date(1950, 3, 1)),
        ("1950", date(1950, 1, 1)),
        (None, None),
    ],
)
def test_patient_birth_date_may_be_partial(birth_date: str | None, expected: date | None) -> None:
    patient = {"resourceType": "Patient", "id": "pat-1", "gender": "female"}
    if birth_date:
        patient["birthDate"] = birth_date
    built = chart_from_fhir(patient=patient)
    assert built.patient is not None
    assert (built.patient.id, built.patient.sex, built.patient.birth_date) == ("pat-1", "female", expected)


def test_patient_defects_outside_the_read_elements_are_not_mentioned() -> None:
    built = chart_from_fhir(
        patient={"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": "1950", "bogus": 1,
                 "name": "Smith", "telecom": {"value": 5}}
    )
    assert built.patient is not None and built.patient.sex == "male"
    assert built.notes == ()


def test_unreadable_birth_date_is_named() -> None:
    built = chart_from_fhir(patient={"resourceType": "Patient", "id": "p", "birthDate": 1950})
    assert built.patient is not None and built.patient.birth_date is None
    assert built.notes == ("Patient/p: birthDate could not be read (not a date string)",)


def test_no_patient_and_missing_data_sets_are_passed_on() -> None:
    built = chart_from_fhir(missing=frozenset({DataSet.PROBLEMS}))
    assert (built.patient, built.missing) == (None, frozenset({DataSet.PROBLEMS}))
