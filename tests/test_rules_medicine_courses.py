"""Medicine courses: repeat prescriptions (renewals, statements and requests mixed) read as one course.

Long-term use (B12-RULES.md §4) and the reassessment of B12 therapy count from the start of the
course, not from the latest renewal; a gap longer than the renewal tolerance starts a new course.
"""

from __future__ import annotations

from datetime import date, timedelta

from builders.facts import TODAY, chart, lab, med

from cds_service.chart.facts import Analyte, MedicationClass, Route
from cds_service.knowledge import load_knowledge
from cds_service.rules import assess
from cds_service.rules.medicines import risk_medicines

KB = load_knowledge()
GAP = timedelta(days=KB.tolerances.prescription_renewal_gap.days)


def _metformin(start: date, end: date | None = None, *, active_now: bool = False, ref: str | None = None):
    return med(MedicationClass.METFORMIN, ingredient="metformin", dose_mg=1000, start=start, end=end,
               active=active_now, ref=ref)


# --- repeat prescriptions --------------------------------------------------------------------


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
