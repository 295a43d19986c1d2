"""Card lines a clinician with thirty seconds must read right (B12-RULES.md §9), one section per defect
found in review: each test shows the line as the card prints it."""

from __future__ import annotations

from builders.cards import checked_cards
from builders.facts import chart, days_ago, med

from cds_service.chart.facts import MedicationClass

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
