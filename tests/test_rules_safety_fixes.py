"""Rule-layer safety fixes, each test named by the clinical scenario that failed before the fix.

Repeat prescriptions read as one course, and a normal active B12 settling the 350-500 ng/L band.
"""

from __future__ import annotations

from datetime import date, timedelta

from builders.facts import TODAY, active, b12, chart, egfr, folic_acid_draft, lab, med, mma

from cds_service.chart.facts import Analyte, MedicationClass, Route
from cds_service.knowledge.clinical import load_clinical_knowledge
from cds_service.rules import assess
from cds_service.rules.b12_status import B12StatusCode, DeficiencyBasis, b12_status
from cds_service.rules.medicines import folic_acid_in_draft_orders, risk_medicines
from cds_service.rules.therapy import b12_replacement_in_drafts

KB = load_clinical_knowledge()
GAP = timedelta(days=KB.tolerances.prescription_renewal_gap.days)


def _metformin(start: date, end: date | None = None, *, active_now: bool = False, ref: str | None = None):
    return med(MedicationClass.METFORMIN, ingredient="metformin", dose_mg=1000, start=start, end=end,
               active=active_now, ref=ref)


# --- fix 2: repeat prescriptions --------------------------------------------------------------------


def test_metformin_renewal_chain_since_2021_counts_as_long_term_use():
    renewal_start = TODAY - timedelta(days=60)
    records = [
        _metformin(date(2021, 5, 3), date(2023, 5, 3), ref="MedicationRequest/met-2021"),
        _metformin(date(2023, 5, 3), renewal_start, ref="MedicationRequest/met-2023"),
        _metformin(renewal_start, active_now=True, ref="MedicationRequest/met-renewal"),
    ]
    (current,) = [r for r in risk_medicines(chart(meds=records), KB) if r.use.active]
    assert current.past_duration is True
    assert current.course_start == date(2021, 5, 3)
    assert current.days_taken == (TODAY - date(2021, 5, 3)).days
    assert current.earlier_refs == ("MedicationRequest/met-2021", "MedicationRequest/met-2023")
    assert assess(chart(meds=records), KB).current_risk_medicines


def test_metformin_renewals_written_without_end_dates_chain_by_their_start_dates():
    # Repeat-prescribing EHRs often send only authoredOn: each renewal ~3 months after the last.
    starts = [TODAY - timedelta(days=90 * n) for n in range(4, 0, -1)]
    records = [_metformin(s) for s in starts] + [_metformin(TODAY - timedelta(days=10), active_now=True)]
    (current,) = [r for r in risk_medicines(chart(meds=records), KB) if r.use.active]
    assert current.course_start == starts[0] and current.past_duration is True


def test_metformin_restarted_after_a_long_gap_counts_from_the_restart():
    restart = TODAY - timedelta(days=60)
    records = [_metformin(date(2021, 5, 3), restart - GAP - timedelta(days=1)),
               _metformin(restart, active_now=True)]
    (current,) = [r for r in risk_medicines(chart(meds=records), KB) if r.use.active]
    assert current.course_start == restart and current.past_duration is False


def test_metformin_chain_that_ended_is_context_not_a_trigger():
    records = [_metformin(date(2021, 5, 3), date(2023, 5, 3)), _metformin(date(2023, 5, 3), date(2025, 1, 1))]
    assert not any(r.past_duration for r in risk_medicines(chart(meds=records), KB))


def test_ppi_renewal_chain_mixing_statement_and_request_counts_as_long_term_use():
    older = med(MedicationClass.PPI, ingredient="omeprazole", start=date(2024, 1, 1), end=TODAY - timedelta(days=40),
                active=False, ref="MedicationStatement/ppi-old")
    renewal = med(MedicationClass.PPI, ingredient="omeprazole", start=TODAY - timedelta(days=30), active=True)
    (current,) = [r for r in risk_medicines(chart(meds=[older, renewal]), KB) if r.use.active]
    assert current.past_duration is True


def test_b12_course_chain_dates_reassessment_from_the_first_injection():
    loading = med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", route=Route.INTRAMUSCULAR,
                  start=date(2025, 6, 1), end=date(2025, 7, 1), active=False)
    maintenance = med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", route=Route.INTRAMUSCULAR,
                      start=date(2025, 7, 1), active=True)
    rechecked = lab(Analyte.B12_TOTAL, 420, on=date(2025, 10, 1))
    a = assess(chart(meds=[loading, maintenance], labs=[rechecked]), KB)
    assert a.reassessment.since == date(2025, 6, 1)
    assert a.reassessment.due is False


def test_b12_maintenance_renewal_without_recheck_since_the_course_began_is_due():
    first = med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", route=Route.INTRAMUSCULAR,
                start=date(2025, 6, 1), end=date(2025, 12, 1), active=False)
    renewal = med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", route=Route.INTRAMUSCULAR,
                  start=date(2025, 12, 1), active=True)
    a = assess(chart(meds=[first, renewal], labs=[lab(Analyte.B12_TOTAL, 150, on=date(2025, 5, 20))]), KB)
    assert a.reassessment.since == date(2025, 6, 1) and a.reassessment.due is True


# --- fix 1: drafts built as facts are live ------------------------------------------------------------


def test_folic_acid_draft_fact_that_is_not_live_is_ignored_by_the_rules():
    stopped = med(MedicationClass.FOLIC_ACID, ingredient="folic acid", dose_mg=5, draft=True, active=False)
    assert folic_acid_in_draft_orders(chart(drafts=[stopped]), KB) == ()
    live = folic_acid_draft(5)
    assert len(folic_acid_in_draft_orders(chart(drafts=[live]), KB)) == 1


def test_hydroxocobalamin_draft_fact_that_is_not_live_is_not_b12_alongside():
    stopped = med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", route=Route.INTRAMUSCULAR,
                  draft=True, active=False)
    assert b12_replacement_in_drafts([stopped], KB) == ()


# --- fix 6: a normal active B12 settles the 350-500 ng/L band -----------------------------------------


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


# --- fix 7: renal caveat with both markers borderline -----------------------------------------------


def test_renal_impairment_with_borderline_total_and_active_b12_has_no_next_test():
    s = b12_status(chart(labs=[b12(298), active(50), mma(0.68), egfr(25)]), KB)
    assert s.code is B12StatusCode.INDETERMINATE
    assert s.next_tests == ()
    assert s.unresolved is True


def test_renal_impairment_with_borderline_total_and_no_active_b12_still_asks_for_active_b12():
    s = b12_status(chart(labs=[b12(298), mma(0.68), egfr(25)]), KB)
    assert s.next_tests == (Analyte.B12_ACTIVE,) and s.unresolved is False
