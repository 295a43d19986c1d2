"""Card lines a clinician with thirty seconds must read right (B12-RULES.md §9), one section per defect
found in review: each test shows the line as the card prints it."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import pytest
from builders.cards import checked_cards
from builders.facts import b12, chart, days_ago, egfr, lab, med, mma, problem

from cds_service.chart.facts import Analyte, MedicationClass, ProblemCategory

METFORMIN_DRAFT = "MedicationRequest/draft-metformin"


def _line(card, start: str) -> str:
    [line] = [x for x in card.detail.splitlines() if x.startswith(start)]
    return line


# --- a risk medicine without a start date says so once -------------------------------------------


def _no_start_date():
    return chart(meds=[med(MedicationClass.METFORMIN, ingredient="metformin", start=None)],
                 drafts=[med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(0), draft=True,
                             ref=METFORMIN_DRAFT)])


def test_patient_view_says_once_that_the_metformin_start_date_is_not_recorded():
    (card,) = checked_cards("b12-status", _no_start_date())
    assert card.source.topic.code == "not_tested"
    line = _line(card, "- metformin:")
    assert line == "- metformin: start date not recorded; counted as taken for more than 4 months"
    assert card.detail.count("not recorded") == 1 and "duration unknown" not in card.detail


def test_metformin_monitoring_says_once_that_the_start_date_is_not_recorded():
    (card,) = checked_cards("metformin-b12-monitoring", _no_start_date(), selections=(METFORMIN_DRAFT,))
    assert card.source.topic.code == "metformin_monitoring"
    assert _line(card, "- metformin: start") == (
        "- metformin: start date not recorded; counted as taken for more than 4 months")
    assert card.detail.count("not recorded") == 1 and "duration unknown" not in card.detail


def test_a_stopped_record_without_a_start_date_is_not_said_to_be_counted():
    c = chart(meds=[med(MedicationClass.METFORMIN, ingredient="metformin", start=None, end=days_ago(30),
                        active=False),
                    med(MedicationClass.PPI, ingredient="omeprazole", start=days_ago(800))])
    (card,) = checked_cards("b12-status", c)
    assert _line(card, "- metformin:") == (
        f"- metformin: stopped {days_ago(30)}, start date not recorded; a risk after 4 months")


def test_any_current_use_medicine_without_a_start_date_keeps_its_rule():
    c = chart(meds=[med(MedicationClass.COLCHICINE, ingredient="colchicine", start=None)])
    (card,) = checked_cards("b12-status", c)
    assert _line(card, "- colchicine:") == "- colchicine: start date not recorded; any current use is a risk"


# --- a summary that speaks of signs names them -------------------------------------------------


def _texts():
    """(where, summary, lead sentence) of every kind and wording of every service."""
    from helpers import registered_services

    for service in registered_services():
        texts = service.card_texts
        for name, kind in texts["kinds"].items():
            yield f"{service.id} {name}", kind["summary"], kind["detail"].split("\n\n")[0]
            for vname, variant in kind.get("variants", {}).items():
                lead = variant.get("detail", kind["detail"]).split("\n\n")[0]
                yield f"{service.id} {name}.{vname}", variant["summary"], lead
        for name, note in texts.get("leadNotes", {}).items():
            yield f"{service.id} leadNotes.{name}", note["summary"], note["text"]


def test_no_summary_or_lead_sentence_speaks_of_signs_without_naming_them():
    """B12-RULES.md §9: "signs" in a summary or the lead sentence (the bold decision that opens the detail) is
    the {signs}/{neuro_signs} placeholder, filled with the signs the card used; a bare "signs" sends the
    clinician hunting. ("Decide on symptoms, neurological signs ..." later on is advice, not a finding.)"""
    import re

    bare = re.compile(r"\bsigns\b")
    found = [f"{where}: {text!r}" for where, summary, first in _texts()
             for text in (summary, re.match(r"\*\*(.*?)\*\*", first).group(1))
             if bare.search(re.sub(r"\{\w+\}", "", text))]
    assert found == []


@pytest.mark.parametrize(("category", "word"), [
    (ProblemCategory.NEUROPATHY, "neuropathy"), (ProblemCategory.ATAXIA, "unsteady gait"),
    (ProblemCategory.PARAESTHESIA, "paraesthesia"), (ProblemCategory.COGNITIVE_IMPAIRMENT, "cognitive impairment"),
    (ProblemCategory.SUBACUTE_COMBINED_DEGENERATION, "subacute combined degeneration"),
])
def test_deficiency_with_neurological_involvement_names_it_in_the_summary(category, word):
    (card,) = checked_cards("b12-status", chart(labs=[b12(150)], problems=[problem(category)]))
    assert card.summary == f"B12 deficiency with {word}: start IM hydroxocobalamin now"


def test_two_signs_are_named_and_more_are_counted_as_other_signs():
    two = [problem(ProblemCategory.NEUROPATHY), problem(ProblemCategory.PARAESTHESIA)]
    (card,) = checked_cards("b12-status", chart(labs=[b12(420), mma(0.68), egfr(80)], problems=two))
    assert card.summary == ("Probable functional B12 deficiency with neuropathy and paraesthesia: "
                            "start IM hydroxocobalamin now")
    three = [*two, problem(ProblemCategory.SUBACUTE_COMBINED_DEGENERATION), problem(ProblemCategory.NEUROPATHY)]
    (card,) = checked_cards("b12-status", chart(labs=[b12(150)], problems=three))
    assert card.summary == "B12 deficiency with neuropathy, paraesthesia and other signs: start IM hydroxocobalamin now"
    assert "Neurological: neuropathy" in card.detail and "Neurological: paraesthesia" in card.detail


def _metformin_with(labs=(), problems=()):
    return chart(labs=labs, problems=problems, birth=date(1980, 6, 1),
                 meds=[med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(2000))],
                 drafts=[med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(0), draft=True,
                             ref=METFORMIN_DRAFT)])


@pytest.mark.parametrize(("labs", "problems", "named"), [
    ([lab(Analyte.MCV, 104)], [], "macrocytosis"),
    ([lab(Analyte.HAEMOGLOBIN, 10.1)], [], "anaemia"),
    ([lab(Analyte.MCV, 104), lab(Analyte.HAEMOGLOBIN, 10.1)], [], "macrocytosis and anaemia"),
    ([lab(Analyte.MCV, 104)], [problem(ProblemCategory.NEUROPATHY)], "neuropathy and macrocytosis"),
])
def test_metformin_monitoring_names_the_signs_that_shortened_the_interval(labs, problems, named):
    (card,) = checked_cards("metformin-b12-monitoring", _metformin_with(labs, problems), selections=(METFORMIN_DRAFT,))
    assert card.summary == f"Long-term metformin with {named}, no B12 on record: check B12"
    assert card.detail.startswith(f"**Check serum B12: long-term metformin with {named}, and no usable B12 result")


def test_the_longest_signs_sample_is_the_longest_a_summary_can_get():
    from itertools import permutations

    from cds_service.cards.detail import SIGN_WORDS, SIGNS_LONGEST, _named

    words = [*SIGN_WORDS.values(), "macrocytosis", "anaemia"]
    assert max(len(_named(list(p))) for n in (1, 2, 3) for p in permutations(words, n)) <= len(SIGNS_LONGEST)


# --- a future-dated result under "Earlier results" says why it is not used ----------------------


def _with_future_b12(*others):
    from builders.fhir import TODAY, chart_from_fhir, condition, observation, patient, quantity

    def b12_on(value, offset, id):
        when = (TODAY + timedelta(days=offset)).isoformat()
        return observation(id=id, valueQuantity=quantity(value, "ng/L"), effectiveDateTime=when)

    observations = [b12_on(150, 30, "future"), *(b12_on(v, o, f"b12-{i}") for i, (v, o) in enumerate(others))]
    return chart_from_fhir(patient=patient("female", "1990-05-01"), observations=observations,
                           conditions=[condition({"text": "Peripheral neuropathy"})]), TODAY


@pytest.mark.parametrize("service", ["b12-status", "folic-acid-safety-sign"])
def test_a_future_dated_result_says_on_its_context_line_that_it_is_not_used(service):
    from builders.facts import folic_acid_draft

    c, today = _with_future_b12()
    c = dataclasses.replace(c, draft_orders=(folic_acid_draft(5),)) if service != "b12-status" else c
    (card,) = checked_cards(service, c)
    assert card.source.topic.code in ("not_tested", "folate_not_tested_risk")
    future = (today + timedelta(days=30)).isoformat()
    assert f"- Serum B12 150 ng/L on {future} (dated in the future; not used)" in card.detail.splitlines()
    assert card.detail.count("dated in the future") == 1  # no second data-quality line on the same record


def test_a_future_dated_result_beside_the_deciding_one_is_marked_and_the_deciding_one_is_not():
    c, today = _with_future_b12((160, -40), (262, -500))
    (card,) = checked_cards("b12-status", c)
    assert card.source.topic.code == "deficient_neuro"
    future, recent = (today + timedelta(days=30)).isoformat(), (today - timedelta(days=40)).isoformat()
    assert f"- Serum B12 160 ng/L on {recent} (below 180 ng/L)" in card.detail.splitlines()
    assert f"- Serum B12 150 ng/L on {future} (dated in the future; not used)" in card.detail.splitlines()
    assert card.detail.count("dated in the future") == 1


# --- a current course beside an old stopped one is not a restart ---------------------------------


def _stopped_course_then(current_start: int | None):
    """Metformin 7 years, stopped 6 months ago; then (optionally) a current prescription since ``current_start``."""
    meds = [med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(2770), end=days_ago(184),
                active=False, ref="MedicationStatement/old")]
    if current_start is not None:
        meds.append(med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(current_start),
                        ref="MedicationRequest/current"))
    return chart(meds=meds, drafts=[med(MedicationClass.METFORMIN, ingredient="metformin", start=days_ago(0),
                                        draft=True, ref=METFORMIN_DRAFT)])


def test_renewing_a_current_prescription_after_a_stopped_course_continues_it():
    (card,) = checked_cards("metformin-b12-monitoring", _stopped_course_then(62), selections=(METFORMIN_DRAFT,))
    assert _line(card, "- metformin: continues") == (
        f"- metformin: continues current metformin (since {days_ago(62)}, after a course stopped on {days_ago(184)})")
    assert "restart" not in card.detail
    # Values used keep both courses with their dates: the gap is on the record, not implied.
    assert f"- metformin: stopped {days_ago(184)}, taken for 7 years, since {days_ago(2770)}" in card.detail
    assert f"- metformin: taken for 2 months, since {days_ago(62)}; a risk after 4 months" in card.detail


def test_a_draft_after_a_stopped_course_with_nothing_current_restarts_it():
    (card,) = checked_cards("metformin-b12-monitoring", _stopped_course_then(None), selections=(METFORMIN_DRAFT,))
    assert _line(card, "- metformin: restarts") == (
        f"- metformin: restarts metformin stopped on {days_ago(184)}, less than 12 months ago")


def test_a_current_prescription_chained_to_the_old_course_is_one_course():
    """Within the renewal tolerance the current prescription continues the old course: one line, no stop named."""
    (card,) = checked_cards("metformin-b12-monitoring", _stopped_course_then(170), selections=(METFORMIN_DRAFT,))
    assert _line(card, "- metformin: continues") == "- metformin: continues current metformin"
    assert "renewed prescriptions counted as one course" in card.detail


# --- a raised MMA without a serum B12 is among the values used ------------------------------------


def _mma_without_b12(*extra):
    from builders.fhir import TODAY, chart_from_fhir, condition, observation, patient, quantity

    on = (TODAY - timedelta(days=10)).isoformat()
    mma = observation("13964-2", id="mma", valueQuantity=quantity(0.62, "umol/L"), effectiveDateTime=on)
    others = [observation("98979-8", id="egfr", valueQuantity=quantity(value, "mL/min/{1.73_m2}"),
                          effectiveDateTime=on) for value in extra]
    return chart_from_fhir(patient=patient("female", "1990-05-01"), observations=[mma, *others],
                           conditions=[condition({"text": "Peripheral neuropathy"})]), on


@pytest.mark.parametrize(("egfr_values", "kind"), [((), "indeterminate"), ((80,), "indeterminate"),
                                                    ((25,), "not_tested")])
def test_a_raised_mma_without_serum_b12_is_shown_with_its_date(egfr_values, kind):
    """Reproduced in review: already shown (no change); pinned so it stays so, renal caveat or not."""
    c, on = _mma_without_b12(*egfr_values)
    (card,) = checked_cards("b12-status", c)
    assert card.source.topic.code == kind
    values = card.detail.split("**Values used**\n", 1)[1].split("\n\n")[0].splitlines()
    assert values[0] == f"- MMA 0.62 µmol/L on {on} (above the default upper limit 0.4 µmol/L)"


# --- under the renal caveat, the next test after an indeterminate B12 is active B12, never MMA -----------


@pytest.mark.parametrize("service", ["b12-status", "metformin-b12-monitoring"])
def test_a_card_asking_for_b12_under_the_renal_caveat_names_active_b12_next_and_says_why(service):
    """B12-RULES.md §3: MMA rises in renal impairment; the card says so beside the advice, not MMA after it."""
    (card,) = checked_cards(service, _metformin_with(labs=[egfr(22)]), selections=(METFORMIN_DRAFT,)
                            if service == "metformin-b12-monitoring" else ())
    assert "If the result is indeterminate, active B12 is the next test." in card.detail
    assert "**Renal impairment** (eGFR 22" in card.detail and "MMA is the next test" not in card.detail


@pytest.mark.parametrize("service", ["b12-status", "metformin-b12-monitoring"])
def test_without_renal_impairment_mma_stays_the_next_test(service):
    (card,) = checked_cards(service, _metformin_with(labs=[egfr(80)]), selections=(METFORMIN_DRAFT,)
                            if service == "metformin-b12-monitoring" else ())
    assert "If the result is indeterminate, MMA is the next test." in card.detail
    assert "Renal impairment" not in card.detail
