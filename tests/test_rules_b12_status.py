"""B12 status in the order of B12-RULES.md §3, with the threshold edges."""

from __future__ import annotations

import pytest
from builders.facts import active, b12, b12_pmol, chart, days_ago, egfr, hydroxocobalamin, lab, med, mma, problem

from cds_service.chart.facts import Analyte, DataIssue, MedicationClass, ProblemCategory, Route
from cds_service.knowledge import load_knowledge
from cds_service.rules import B12StatusCode, DeficiencyBasis, b12_status
from cds_service.rules.b12_status import SEVERITY

KB = load_knowledge()
S = B12StatusCode


def status_of(*labs, **kw):
    return b12_status(chart(labs=labs, **kw))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (179, S.DEFICIENT),
        (180, S.INDETERMINATE),
        (181, S.INDETERMINATE),
        (350, S.INDETERMINATE),
        (351, S.NOT_DEFICIENT),
    ],
)
def test_total_b12_edges_in_ng_per_l(value, expected):
    assert status_of(b12(value)).code is expected


@pytest.mark.parametrize(
    ("pmol", "expected"),
    [
        (132, S.DEFICIENT),
        (133, S.INDETERMINATE),
        (134, S.INDETERMINATE),
        (258, S.INDETERMINATE),
        (259, S.NOT_DEFICIENT),
    ],
)
def test_total_b12_edges_reported_in_pmol_per_l(pmol, expected):
    # 132 x 1.355 = 178.9 ng/L, 133 x 1.355 = 180.2 ng/L, 134 x 1.355 = 181.6 ng/L:
    # the mass and the molar thresholds agree at these whole numbers.
    assert status_of(b12_pmol(pmol)).code is expected


def test_molar_threshold_honoured_where_the_mass_threshold_would_reassure():
    # 132.9 pmol/L = 180.08 ng/L: not below 180 ng/L, but below NICE's 133 pmol/L -> deficient.
    status = status_of(b12_pmol(132.9))
    assert status.code is S.DEFICIENT
    assert "133 pmol/L" in status.total.note


def test_molar_threshold_not_applied_to_a_mass_report_of_the_same_number():
    assert status_of(b12(180.08)).code is S.INDETERMINATE


@pytest.mark.parametrize(
    ("value", "expected"),
    [(24, S.DEFICIENT), (25, S.INDETERMINATE), (70, S.INDETERMINATE), (71, S.NOT_DEFICIENT)],
)
def test_active_b12_edges(value, expected):
    status = status_of(active(value))
    assert status.code is expected
    if expected is S.DEFICIENT:
        assert status.basis is DeficiencyBasis.LOW_ACTIVE_B12


def test_deficient_total_b12_names_its_basis_and_evidence():
    result = b12(150)
    status = status_of(result)
    assert (status.code, status.basis) == (S.DEFICIENT, DeficiencyBasis.LOW_TOTAL_B12)
    assert status.total.result is result
    assert status.total.explanation == "below 180 ng/L"


def test_indeterminate_without_mma_asks_for_mma():
    status = status_of(b12(250))
    assert status.code is S.INDETERMINATE
    assert status.next_tests == (Analyte.MMA,)


def test_indeterminate_with_raised_mma_is_functional_deficiency():
    status = status_of(b12(250), mma(0.6))
    assert (status.code, status.basis) == (S.DEFICIENT, DeficiencyBasis.FUNCTIONAL)


def test_mma_equal_to_the_default_limit_is_not_raised():
    assert status_of(b12(250), mma(0.40)).code is S.NOT_DEFICIENT


def test_mma_just_above_the_default_limit_is_raised():
    assert status_of(b12(250), mma(0.41)).code is S.DEFICIENT


def test_mma_judged_against_the_labs_own_upper_limit():
    assert status_of(b12(250), mma(0.45, high=0.50)).code is S.NOT_DEFICIENT
    assert status_of(b12(250), mma(0.50, high=0.50)).code is S.NOT_DEFICIENT
    assert status_of(b12(250), mma(0.51, high=0.50)).code is S.DEFICIENT


def test_mma_with_an_ambiguous_comparator_decides_nothing():
    status = status_of(b12(250), mma(0.5, comparator="<"))
    assert status.code is S.INDETERMINATE
    assert status.mma.raised is None


def test_probable_functional_deficiency_between_350_and_500_with_raised_mma():
    status = status_of(b12(420), mma(0.6))
    assert (status.code, status.basis) == (S.DEFICIENT, DeficiencyBasis.PROBABLE_FUNCTIONAL)
    assert not status.confirmed_deficiency


def test_normal_b12_above_500_with_raised_mma_is_discordant_and_asks_for_active_b12():
    status = status_of(b12(600), mma(0.6))
    assert status.code is S.INDETERMINATE
    assert status.next_tests == (Analyte.B12_ACTIVE,)


def test_normal_b12_with_normal_mma_is_not_deficient():
    assert status_of(b12(420), mma(0.2)).code is S.NOT_DEFICIENT


@pytest.mark.parametrize(("gfr", "caveat"), [(29, True), (30, False)])
def test_renal_caveat_edges_on_egfr(gfr, caveat):
    status = status_of(b12(250), mma(0.6), egfr(gfr))
    assert status.renal.applies is caveat
    assert status.code is (S.INDETERMINATE if caveat else S.DEFICIENT)
    if caveat:
        assert status.next_tests == (Analyte.B12_ACTIVE,)


def test_renal_caveat_from_ckd_stage_4_on_the_problem_list():
    status = status_of(b12(420), mma(0.6), problems=[problem(ProblemCategory.CKD_STAGE_4_5)])
    assert status.renal.applies
    assert status.code is S.INDETERMINATE


def test_renal_caveat_not_assumed_from_an_egfr_bound_that_straddles_30():
    status = status_of(b12(250), mma(0.6), egfr(45, comparator="<"))
    assert not status.renal.applies
    assert status.renal.notes


def test_low_b12_is_deficient_despite_renal_impairment():
    assert status_of(b12(150), egfr(20)).code is S.DEFICIENT


def test_less_than_200_is_not_known_to_be_below_180():
    status = status_of(b12(200, comparator="<"))
    assert status.code is S.INDETERMINATE
    assert "either side" in status.total.note


def test_less_than_180_is_below_180():
    assert status_of(b12(180, comparator="<")).code is S.DEFICIENT


def test_less_or_equal_180_may_be_180():
    assert status_of(b12(180, comparator="<=")).code is S.INDETERMINATE


def test_greater_than_350_is_above_350_but_greater_than_200_is_not():
    assert status_of(b12(350, comparator=">")).code is S.NOT_DEFICIENT
    assert status_of(b12(200, comparator=">")).code is S.INDETERMINATE


def test_most_recent_usable_result_decides_and_older_ones_are_context():
    old, new = b12(150, on=days_ago(200)), b12(420, on=days_ago(5))
    status = status_of(old, new)
    assert status.code is S.NOT_DEFICIENT
    assert status.total.result is new
    assert old in status.picks[0].context


def test_preliminary_result_does_not_decide_and_is_noted():
    prelim = b12(150, issues=(DataIssue.NOT_FINAL,), status="preliminary")
    status = status_of(prelim, b12(420, on=days_ago(40)))
    assert status.code is S.NOT_DEFICIENT
    assert any("not final" in note for note in status.picks[0].notes)


def test_unknown_unit_result_does_not_decide():
    odd = lab(Analyte.B12_TOTAL, None, reported="150 mg", issues=(DataIssue.UNKNOWN_UNIT,))
    assert status_of(odd).code is S.NOT_TESTED


def test_result_older_than_12_months_is_stale_and_not_tested():
    old = b12(150, on=days_ago(400))
    status = status_of(old)
    assert status.code is S.NOT_TESTED
    assert status.stale_results[0].issues == (DataIssue.STALE,)


def test_result_exactly_12_months_old_is_still_in_the_lookback():
    from datetime import date

    assert status_of(b12(150, on=date(2025, 3, 15))).code is S.DEFICIENT
    assert status_of(b12(150, on=date(2025, 3, 14))).code is S.NOT_TESTED


def test_future_dated_result_is_ignored_with_a_note():
    status = status_of(b12(150, on=days_ago(-3)))
    assert status.code is S.NOT_TESTED
    assert "future" in status.picks[0].notes[0]


def test_same_day_duplicates_the_lower_b12_decides():
    day = days_ago(3)
    assert status_of(b12(420, on=day), b12(150, on=day)).code is S.DEFICIENT


def test_raised_mma_alone_is_indeterminate_and_asks_for_serum_b12():
    # B12-RULES.md §7 "MMA without any B12 result".
    status = status_of(mma(0.9))
    assert (status.code, status.next_tests) == (S.INDETERMINATE, (Analyte.B12_TOTAL,))


def test_normal_mma_alone_means_deficiency_unlikely():
    assert status_of(mma(0.2)).code is S.NOT_DEFICIENT


def test_raised_mma_alone_under_the_renal_caveat_is_still_not_tested():
    assert status_of(mma(0.9), egfr(20)).code is S.NOT_TESTED


def test_active_im_replacement_is_on_treatment_whatever_the_labs():
    status = status_of(b12(100), meds=[hydroxocobalamin()])
    assert status.code is S.ON_TREATMENT
    assert status.therapy


@pytest.mark.parametrize(("dose", "on_treatment"), [(1.0, True), (0.5, False), (None, False)])
def test_oral_b12_counts_as_treatment_only_at_1_mg_a_day(dose, on_treatment):
    oral = med(
        MedicationClass.B12_THERAPY,
        ingredient="cyanocobalamin",
        route=Route.ORAL,
        dose_mg=dose,
        start=days_ago(50),
    )
    assert (status_of(b12(150), meds=[oral]).code is S.ON_TREATMENT) is on_treatment


def test_ended_replacement_is_not_on_treatment():
    ended = med(
        MedicationClass.B12_THERAPY,
        route=Route.INTRAMUSCULAR,
        start=days_ago(300),
        end=days_ago(100),
        active=False,
    )
    assert status_of(b12(150), meds=[ended]).code is S.DEFICIENT


def test_severity_orders_the_decided_statuses():
    assert SEVERITY[S.DEFICIENT] > SEVERITY[S.INDETERMINATE] > SEVERITY[S.NOT_DEFICIENT]


# --- a normal active B12 settles the 350-500 ng/L band -----------------------------------------


def test_b12_400_raised_mma_normal_active_b12_is_not_deficient():
    s = b12_status(chart(labs=[b12(400), active(90), mma(0.68), egfr(80)]), KB)
    assert s.code is B12StatusCode.NOT_DEFICIENT
    assert "active B12" in s.reason and "MMA" in s.reason


def test_b12_400_raised_mma_borderline_active_b12_is_functional_deficiency():
    # An indeterminate active B12 with a raised MMA is functional deficiency (§3.2), unchanged.
    s = b12_status(chart(labs=[b12(400), active(50), mma(0.68), egfr(80)]), KB)
    assert (s.code, s.basis) == (B12StatusCode.DEFICIENT, DeficiencyBasis.FUNCTIONAL)


def test_b12_400_raised_mma_without_active_b12_stays_probable_functional():
    s = b12_status(chart(labs=[b12(400), mma(0.68), egfr(80)]), KB)
    assert (s.code, s.basis) == (B12StatusCode.DEFICIENT, DeficiencyBasis.PROBABLE_FUNCTIONAL)


# --- renal caveat with both markers borderline -----------------------------------------------


def test_renal_impairment_with_borderline_total_and_active_b12_has_no_next_test():
    s = b12_status(chart(labs=[b12(298), active(50), mma(0.68), egfr(25)]), KB)
    assert s.code is B12StatusCode.INDETERMINATE
    assert s.next_tests == ()
    assert s.unresolved is True


def test_renal_impairment_with_borderline_total_and_no_active_b12_still_asks_for_active_b12():
    s = b12_status(chart(labs=[b12(298), mma(0.68), egfr(25)]), KB)
    assert s.next_tests == (Analyte.B12_ACTIVE,) and s.unresolved is False
