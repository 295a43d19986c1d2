"""metformin-b12-monitoring (order-select): every row of the B12-RULES.md §8 table, and its edges."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest
from builders import TODAY
from builders.facts import b12, chart, days_ago, hydroxocobalamin, lab, med, mma, problem
from helpers import ROOT

from cds_service.chart.facts import Analyte, DataIssue, MedicationClass, Patient
from cds_service.chart.facts import ProblemCategory as P
from cds_service.knowledge import load_knowledge
from cds_service.rules.assessment import assess
from cds_service.rules.dates import add_months
from cds_service.rules.decision import Call, Labs, Level, Span
from cds_service.rules.services.b12_status import status_decision
from cds_service.rules.services.metformin_b12_monitoring import RULES, Parameters, decide

KB = load_knowledge()
HOOK = json.loads((ROOT / "hooks" / "metformin-b12-monitoring.json").read_text(encoding="utf-8"))
PARAMS = Parameters.model_validate(HOOK["x-b12cds"]["parameters"])
DRAFT_REF = "MedicationRequest/draft-metformin"


def draft(*, active: bool = True, ref: str = DRAFT_REF):
    return med(MedicationClass.METFORMIN, ingredient="metformin", draft=True, active=active, ref=ref)


def on_metformin(since: date | None = date(2021, 5, 3), **kw):
    return med(MedicationClass.METFORMIN, ingredient="metformin", start=since, **kw)


def run(*, labs=(), meds=None, drafts=None, problems=(), selections=(DRAFT_REF,),
        params: Parameters = PARAMS, **kw):
    meds = (on_metformin(),) if meds is None else meds
    c = chart(labs=labs, meds=meds, drafts=(draft(),) if drafts is None else drafts, problems=problems, **kw)
    return c, decide(c, KB, Call(hook="order-select", selections=tuple(selections), parameters=params))


def test_the_hooks_json_names_this_module_and_its_parameters_have_sources():
    assert HOOK["x-b12cds"]["evaluator"] == RULES.name
    assert (PARAMS.monitoring_interval.months, PARAMS.monitoring_interval_with_signs.months) == (36, 12)
    assert all("FDA" in p.source or "ADA" in p.source
               for p in (PARAMS.monitoring_interval, PARAMS.monitoring_interval_with_signs))


def test_parameters_refuse_unknown_or_missing_entries():
    with pytest.raises(ValueError):
        Parameters.model_validate({**HOOK["x-b12cds"]["parameters"], "interval_typo": {"months": 1, "source": "x"}})
    with pytest.raises(ValueError):
        Parameters.model_validate({"monitoring_interval": {"months": 36, "source": "x"}})


def test_long_term_metformin_never_tested_gets_the_info_card_with_a_serum_b12():
    _, (d,) = run()
    assert (d.kind, d.level, d.variant) == ("metformin_monitoring", Level.INFO, "never")
    assert d.offers == (Labs("order_b12", ("b12_total",)),)
    assert d.facts == {"interval": Span(36)}
    assert [o.use.source_ref for o in d.orders] == [DRAFT_REF]
    assert d.orders[0].reason == "continues current metformin"


def test_neuropathy_and_a_normal_b12_18_months_ago_gets_the_warning_card():
    _, (d,) = run(labs=[b12(420, on=add_months(TODAY, -18))], problems=[problem(P.NEUROPATHY)])
    assert (d.kind, d.level, d.variant) == ("metformin_monitoring", Level.WARNING, "signs")
    assert d.facts == {"interval": Span(12)}


def test_macrocytosis_shortens_the_interval_but_stays_info():
    labs = [b12(450, on=add_months(TODAY, -24)), lab(Analyte.MCV, 104, on=days_ago(30))]
    _, (d,) = run(labs=labs)
    assert (d.kind, d.level, d.variant) == ("metformin_monitoring", Level.INFO, "signs")


def test_a_normal_b12_two_years_ago_without_signs_is_silent():
    assert run(labs=[b12(510, on=add_months(TODAY, -24))])[1] == ()


def test_the_interval_starts_on_the_same_day_three_years_ago():
    assert run(labs=[b12(510, on=add_months(TODAY, -36))])[1] == ()
    _, (d,) = run(labs=[b12(510, on=add_months(TODAY, -36) - timedelta(days=1))])
    assert (d.kind, d.variant) == ("metformin_monitoring", None)


def test_a_normal_mma_within_the_interval_counts_as_tested():
    assert run(labs=[mma(0.21, on=add_months(TODAY, -20))])[1] == ()


def test_the_interval_is_the_service_parameter():
    shorter = PARAMS.model_copy(update={"monitoring_interval": PARAMS.monitoring_interval.model_copy(
        update={"months": 18})})
    _, (d,) = run(labs=[b12(510, on=add_months(TODAY, -24))], params=shorter)
    assert d.facts == {"interval": Span(18)}


@pytest.mark.parametrize("meds", [
    pytest.param((), id="no earlier metformin"),
    pytest.param((on_metformin(since=days_ago(90)),), id="started 3 months ago"),
    pytest.param((on_metformin(since=date(2018, 1, 1), end=add_months(TODAY, -13), active=False),),
                 id="5-year course ended 13 months ago: a restart"),
])
def test_a_new_start_or_a_restart_is_silent(meds):
    assert run(meds=meds)[1] == ()


def test_a_long_course_stopped_six_months_ago_is_a_continuation():
    meds = (on_metformin(since=date(2019, 2, 1), end=add_months(TODAY, -6), active=False),)
    _, (d,) = run(meds=meds)
    assert d.kind == "metformin_monitoring"
    assert d.orders[0].reason == f"restarts metformin stopped on {add_months(TODAY, -6)}, less than 12 months ago"


def test_current_metformin_with_no_start_date_counts_as_a_continuation():
    _, (d,) = run(meds=(on_metformin(since=None),))
    assert d.kind == "metformin_monitoring"


@pytest.mark.parametrize(("drafts", "selections"), [
    pytest.param((draft(), med(MedicationClass.PPI, draft=True, ref="MedicationRequest/ppi")),
                 ("MedicationRequest/ppi",), id="metformin drafted but not selected"),
    pytest.param((draft(active=False),), (DRAFT_REF,), id="selected draft no longer live"),
    pytest.param((), (DRAFT_REF,), id="no draft"),
])
def test_only_a_selected_live_metformin_draft_triggers(drafts, selections):
    assert run(drafts=drafts, selections=selections)[1] == ()


@pytest.mark.parametrize(("labs", "problems", "kind", "level"), [
    pytest.param([b12(150)], [], "deficient", Level.WARNING, id="deficient"),
    pytest.param([b12(150)], [problem(P.NEUROPATHY)], "deficient_neuro", Level.CRITICAL,
                 id="deficient with neuropathy"),
    pytest.param([b12(260)], [], "indeterminate", Level.INFO, id="indeterminate"),
    pytest.param([b12(160, on=add_months(TODAY, -22))], [], "not_tested", Level.INFO, id="old low B12, untreated"),
    pytest.param([b12(250, on=add_months(TODAY, -26))], [], "not_tested", Level.INFO,
                 id="old borderline B12 within the interval"),
])
def test_a_low_or_borderline_b12_gets_exactly_the_patient_view_status_card(labs, problems, kind, level):
    c, (d,) = run(labs=labs, problems=problems)
    assert d == status_decision(assess(c, KB))
    assert (d.kind, d.level) == (kind, level)


def test_a_recent_normal_b12_outweighs_an_older_raised_mma():
    labs = [b12(600, on=days_ago(60)), mma(0.9, on=add_months(TODAY, -20))]
    assert run(labs=labs)[1] == ()


def test_on_b12_replacement_is_silent_even_with_a_low_b12_before_it():
    meds = (on_metformin(), hydroxocobalamin(start=days_ago(200)))
    assert run(labs=[b12(140, on=days_ago(210))], meds=meds)[1] == ()


def test_an_unusable_or_future_dated_b12_is_not_a_test():
    preliminary = b12(500, on=days_ago(40), status="preliminary", issues=(DataIssue.NOT_FINAL,))
    future = b12(500, on=TODAY + timedelta(days=30))
    _, (d,) = run(labs=[preliminary, future])
    assert (d.kind, d.variant) == ("metformin_monitoring", "never")


def test_no_card_on_a_deceased_patients_record():
    c = chart(meds=(on_metformin(),), drafts=(draft(),))
    dead = dataclasses.replace(c, patient=Patient(id="p1", sex="female", birth_date=date(1950, 1, 1), deceased=True))
    assert decide(dead, KB, Call(hook="order-select", selections=(DRAFT_REF,), parameters=PARAMS)) == ()


def test_the_table_declares_every_wording_and_suggestion_it_can_give():
    assert RULES.kinds["metformin_monitoring"] == ("never", "signs", "signs_never")
    assert "order_b12" in RULES.suggestions
    assert RULES.uses == ("b12_status",)


def _completed(start: date, ref: str):
    """A past prescription as repeat-prescribing EHRs send it: completed, authored date only, no end."""
    return on_metformin(start, active=False, ref=ref)


def test_renewing_a_chain_of_completed_prescriptions_without_end_dates_is_a_continuation():
    chain = tuple(_completed(days_ago(90 * i), f"MedicationRequest/old-{i}") for i in range(1, 9))
    _, (d,) = run(meds=chain)
    assert (d.kind, d.level, d.variant) == ("metformin_monitoring", Level.INFO, "never")
    assert d.orders[0].reason.startswith(f"renews metformin taken since {days_ago(720)}")


def test_a_completed_prescription_long_ago_without_an_end_is_a_restart():
    assert run(meds=(_completed(days_ago(400), "MedicationRequest/old"),))[1] == ()


def test_a_completed_chain_of_under_four_months_is_a_new_course():
    chain = (_completed(days_ago(60), "MedicationRequest/a"), _completed(days_ago(100), "MedicationRequest/b"))
    assert run(meds=chain)[1] == ()


@pytest.mark.parametrize("labs", [(), (b12(150, on=days_ago(50)),)])
def test_b12_replacement_in_the_same_draft_orders_is_silent(labs):
    drafts = (draft(), hydroxocobalamin(draft=True))
    assert run(labs=labs, drafts=drafts)[1] == ()


def test_the_draft_on_file_under_its_own_id_is_not_earlier_use():
    itself = on_metformin(days_ago(240), ref=DRAFT_REF)
    assert run(meds=(itself,))[1] == ()
