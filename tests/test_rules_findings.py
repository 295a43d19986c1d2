"""Neurological involvement, malabsorption, risk medicines, blood count, folic acid orders (§4-§5)."""

from __future__ import annotations

from datetime import date

import pytest
from builders.facts import TODAY, b12, chart, days_ago, folic_acid_draft, hydroxocobalamin, lab, med, pregnancy, problem

from cds_service.chart.facts import Analyte, DataSet, Interpretation, MedicationClass, ProblemCategory, Route
from cds_service.knowledge import load_knowledge
from cds_service.rules import assess
from cds_service.rules.findings import (
    has_neurological_involvement,
    has_pure_motor_neuropathy,
    is_pregnant,
    malabsorption_causes,
    other_risk_factors,
)
from cds_service.rules.haematology import haematological_signs
from cds_service.rules.medicines import folic_acid_in_draft_orders, risk_medicines, standard_pregnancy_dose
from cds_service.rules.therapy import b12_replacement_in_drafts

KB = load_knowledge()
P = ProblemCategory


@pytest.mark.parametrize(
    "category",
    [
        P.NEUROPATHY,
        P.PARAESTHESIA,
        P.SUBACUTE_COMBINED_DEGENERATION,
        P.ATAXIA,
        P.COGNITIVE_IMPAIRMENT,
        P.MOTOR_NEUROPATHY,
    ],
)
def test_neurological_problems_count_as_involvement(category):
    finding = has_neurological_involvement(chart(problems=[problem(category)]))
    assert finding.present and finding.problems[0].category is category


def test_resolved_neuropathy_is_not_current_involvement():
    resolved = problem(P.NEUROPATHY, active=False, clinical_status="resolved")
    assert not has_neurological_involvement(chart(problems=[resolved])).present


def test_pure_motor_neuropathy_is_flagged_apart():
    c = chart(problems=[problem(P.MOTOR_NEUROPATHY)])
    assert has_pure_motor_neuropathy(c).present
    assert not has_pure_motor_neuropathy(chart(problems=[problem(P.NEUROPATHY)])).present


def test_gastrectomy_recorded_as_resolved_history_still_counts_as_malabsorption():
    history = problem(P.GASTRECTOMY, active=False, clinical_status="resolved")
    assert malabsorption_causes(chart(problems=[history])).present


def test_refuted_pernicious_anaemia_does_not_count():
    refuted = problem(P.PERNICIOUS_ANAEMIA, active=False, verification="refuted")
    assert not malabsorption_causes(chart(problems=[refuted])).present


def test_coeliac_disease_in_remission_does_not_count():
    remission = problem(P.COELIAC_DISEASE, active=False, clinical_status="remission")
    assert not malabsorption_causes(chart(problems=[remission])).present


def _metformin(start: date, **kw):
    return med(MedicationClass.METFORMIN, ingredient="metformin", dose_mg=1000, start=start, **kw)


@pytest.mark.parametrize(
    ("start", "past"),
    [
        (date(2025, 11, 15), False),  # exactly 4 months
        (date(2025, 11, 16), False),  # 4 months - 1 day
        (date(2025, 11, 14), True),
    ],
)  # 4 months + 1 day
def test_metformin_counts_only_after_more_than_4_months(start, past):
    (found,) = risk_medicines(chart(meds=[_metformin(start)]), KB)
    assert found.past_duration is past
    assert found.days_taken == (TODAY - start).days


@pytest.mark.parametrize(
    ("start", "past"), [(date(2025, 3, 15), False), (date(2025, 3, 16), False), (date(2025, 3, 14), True)]
)
def test_ppi_counts_only_after_more_than_12_months(start, past):
    ppi = med(MedicationClass.PPI, ingredient="omeprazole", dose_mg=20, start=start)
    assert risk_medicines(chart(meds=[ppi]), KB)[0].past_duration is past


def test_past_metformin_is_context_not_a_trigger():
    stopped = _metformin(date(2020, 1, 1), end=date(2024, 1, 1), active=False)
    (found,) = risk_medicines(chart(meds=[stopped]), KB)
    assert not found.past_duration
    assert found.days_taken == (date(2024, 1, 1) - date(2020, 1, 1)).days


def test_current_metformin_without_start_date_counts_and_says_so():
    (found,) = risk_medicines(chart(meds=[med(MedicationClass.METFORMIN, ingredient="metformin")]), KB)
    assert found.past_duration and "start date" in found.note


def test_pregabalin_any_current_use_counts():
    (found,) = risk_medicines(chart(meds=[med(MedicationClass.PREGABALIN, start=days_ago(10))]), KB)
    assert found.past_duration and found.min_months is None


def test_macrocytosis_above_100_fl_only():
    assert haematological_signs(chart(labs=[lab(Analyte.MCV, 100)]), KB).macrocytosis is None
    assert haematological_signs(chart(labs=[lab(Analyte.MCV, 101)]), KB).macrocytosis is not None


@pytest.mark.parametrize(
    ("sex", "hb", "anaemic"),
    [
        ("female", 11.9, True),
        ("female", 12.0, False),
        ("male", 12.9, True),
        ("male", 13.0, False),
        (None, 12.5, False),
        (None, 11.5, True),
    ],
)
def test_anaemia_by_sex_specific_haemoglobin(sex, hb, anaemic):
    signs = haematological_signs(chart(labs=[lab(Analyte.HAEMOGLOBIN, hb)], sex=sex), KB)
    assert (signs.anaemia is not None) is anaemic


def test_lab_low_flag_wins_over_the_cut_off():
    flagged = lab(Analyte.HAEMOGLOBIN, 12.5, flag=Interpretation.LOW)
    assert (
        haematological_signs(chart(labs=[flagged], sex="female"), KB).anaemia_by == "flagged low by the lab"
    )
    normal_flag = lab(Analyte.HAEMOGLOBIN, 12.5, flag=Interpretation.NORMAL)
    assert haematological_signs(chart(labs=[normal_flag], sex="male"), KB).anaemia is None


@pytest.mark.parametrize(("dose", "triggers"), [(0.1, False), (0.4, True), (5, True), (None, True)])
def test_folic_acid_dose_trigger(dose, triggers):
    orders = folic_acid_in_draft_orders(chart(drafts=[folic_acid_draft(dose)]), KB)
    assert bool(orders) is triggers


def test_b12_folate_combination_never_triggers():
    combo = med(MedicationClass.B12_FOLATE_COMBINATION, dose_mg=5, draft=True, active=True)
    assert folic_acid_in_draft_orders(chart(drafts=[combo]), KB) == ()


def test_order_select_considers_only_selected_drafts():
    c = chart(drafts=[folic_acid_draft(5, ref="MedicationRequest/a")])
    assert folic_acid_in_draft_orders(c, KB, selections=("MedicationRequest/b",)) == ()
    assert folic_acid_in_draft_orders(c, KB, selections=("MedicationRequest/a",))
    assert folic_acid_in_draft_orders(c, KB, selections=None)  # order-sign: all drafts


def test_b12_replacement_among_drafts_counts_only_at_replacement_dose():
    assert b12_replacement_in_drafts([hydroxocobalamin(draft=True)], KB)
    low_oral = med(MedicationClass.B12_THERAPY, route=Route.ORAL, dose_mg=0.05, draft=True, active=True)
    assert not b12_replacement_in_drafts([low_oral], KB)


@pytest.mark.parametrize(("dose", "standard"), [(0.4, True), (5, True), (5.1, False), (None, False)])
def test_pregnancy_standard_folic_acid_dose(dose, standard):
    orders = folic_acid_in_draft_orders(chart(drafts=[folic_acid_draft(dose)]), KB)
    assert standard_pregnancy_dose(orders, KB) is standard


def test_pregnancy_from_the_problem_list():
    assert is_pregnant(chart(problems=[pregnancy()]), load_knowledge()).present


@pytest.mark.parametrize(("birth", "older"), [(date(1966, 3, 15), False), (date(1966, 3, 14), True)])
def test_age_over_60_starts_the_day_after_the_60th_birthday(birth, older):
    assert other_risk_factors(chart(birth=birth), KB).older_than_threshold is older


def test_vegan_diet_and_nitrous_oxide_are_risk_factors():
    risks = other_risk_factors(chart(problems=[problem(P.VEGAN_DIET), problem(P.NITROUS_OXIDE_USE)]), KB)
    assert risks.present and len(risks.problems) == 2


def test_reassessment_due_after_3_months_without_b12_or_mma():
    assessment = assess(chart(meds=[hydroxocobalamin(start=date(2025, 12, 15))]))
    assert assessment.reassessment.due
    assert not assess(chart(meds=[hydroxocobalamin(start=date(2025, 12, 16))])).reassessment.due


def test_reassessment_not_due_when_b12_measured_since_starting():
    c = chart(meds=[hydroxocobalamin(start=days_ago(200))], labs=[b12(400, on=days_ago(20))])
    assert not assess(c).reassessment.due


def test_not_tested_triggers_and_missing_data_are_reported():
    c = chart(meds=[_metformin(date(2024, 1, 1))], missing={DataSet.BLOOD_COUNT})
    assessment = assess(c)
    assert assessment.warrants_testing
    assert "data set not available: blood count" in assessment.notes


def test_old_deficient_result_without_treatment_warrants_testing():
    assert assess(chart(labs=[b12(120, on=days_ago(500))])).warrants_testing


# --- drafts built as facts are live ------------------------------------------------------------


def test_folic_acid_draft_fact_that_is_not_live_is_ignored_by_the_rules():
    stopped = med(MedicationClass.FOLIC_ACID, ingredient="folic acid", dose_mg=5, draft=True, active=False)
    assert folic_acid_in_draft_orders(chart(drafts=[stopped]), KB) == ()
    live = folic_acid_draft(5)
    assert len(folic_acid_in_draft_orders(chart(drafts=[live]), KB)) == 1


def test_hydroxocobalamin_draft_fact_that_is_not_live_is_not_b12_alongside():
    stopped = med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", route=Route.INTRAMUSCULAR,
                  draft=True, active=False)
    assert b12_replacement_in_drafts([stopped], KB) == ()
