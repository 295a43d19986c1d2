"""folic-acid-safety cards (order-select / order-sign): every row of the §5 folic acid table."""

from __future__ import annotations

import pytest
from builders.cards import checked_cards
from builders.facts import b12, chart, days_ago, folic_acid_draft, hydroxocobalamin, lab, med, pregnancy, problem

from cds_service.chart.facts import Analyte, MedicationClass, ProblemCategory

P = ProblemCategory
SIGN = "folic-acid-safety-sign"
SELECT = "folic-acid-safety-select"


def cards_for(c, service=SIGN, selections=()):
    return checked_cards(service, c, selections=selections)


def test_folic_acid_with_deficiency_is_critical_with_b12_and_delete_action():
    (card,) = cards_for(chart(labs=[b12(150)], drafts=[folic_acid_draft(5)]))
    assert card.indicator == "critical"
    add_b12, remove = card.suggestions
    assert add_b12.isRecommended is True and len(add_b12.actions) == 2
    assert remove.isRecommended is False
    (delete,) = remove.actions
    assert (delete.type, delete.resourceId) == ("delete", "MedicationRequest/folic-1")
    assert card.selectionBehavior == "any"
    assert "subacute combined degeneration" in card.detail


def test_folic_acid_with_deficiency_and_neuropathy_uses_the_neuro_regimen():
    (card,) = cards_for(
        chart(labs=[b12(150)], drafts=[folic_acid_draft(5)], problems=[problem(P.NEUROPATHY)])
    )
    first = card.suggestions[0].actions[0].resource
    assert first["dosageInstruction"][0]["timing"]["repeat"]["period"] == 2


def test_folic_acid_with_indeterminate_b12_is_warning_suggesting_mma():
    (card,) = cards_for(chart(labs=[b12(250)], drafts=[folic_acid_draft(5)]))
    assert card.indicator == "warning"
    (suggestion,) = card.suggestions
    assert suggestion.actions[0].resource["code"]["coding"][0]["code"] == "13964-2"


def test_folic_acid_not_tested_with_macrocytosis_is_warning():
    (card,) = cards_for(chart(labs=[lab(Analyte.MCV, 108)], drafts=[folic_acid_draft(5)]))
    assert card.indicator == "warning"
    assert [s.isRecommended for s in card.suggestions] == [True, False]


def test_folic_acid_not_tested_over_60_is_warning():
    from datetime import date

    (card,) = cards_for(chart(drafts=[folic_acid_draft(5)], birth=date(1950, 1, 1)))
    assert card.indicator == "warning"


def test_folic_acid_not_tested_nothing_else_is_info():
    (card,) = cards_for(chart(drafts=[folic_acid_draft(5)]))
    assert card.indicator == "info"


@pytest.mark.parametrize(("dose", "fires"), [(0.1, False), (0.4, True)])
def test_folic_acid_dose_edge(dose, fires):
    assert bool(cards_for(chart(labs=[b12(150)], drafts=[folic_acid_draft(dose)]))) is fires


def test_recent_normal_b12_is_silent():
    assert cards_for(chart(labs=[b12(420)], drafts=[folic_acid_draft(5)])) == []


def test_on_b12_therapy_is_silent():
    assert cards_for(chart(labs=[b12(150)], meds=[hydroxocobalamin()], drafts=[folic_acid_draft(5)])) == []


def test_b12_therapy_in_the_same_draft_orders_is_silent():
    drafts = [folic_acid_draft(5), hydroxocobalamin(draft=True)]
    assert cards_for(chart(labs=[b12(150)], drafts=drafts)) == []


def test_b12_folate_combination_is_silent():
    combo = med(MedicationClass.B12_FOLATE_COMBINATION, dose_mg=5, draft=True, active=True)
    assert cards_for(chart(labs=[b12(150)], drafts=[combo])) == []


def test_order_select_only_judges_the_selected_draft():
    c = chart(labs=[b12(150)], drafts=[folic_acid_draft(5, ref="MedicationRequest/f1")])
    assert cards_for(c, SELECT, selections=("MedicationRequest/other",)) == []
    (card,) = cards_for(c, SELECT, selections=("MedicationRequest/f1",))
    assert card.indicator == "critical"


def test_order_sign_judges_all_drafts():
    c = chart(labs=[b12(250)], drafts=[folic_acid_draft(5, ref="MedicationRequest/f1")])
    assert len(cards_for(c, SIGN)) == 1


def test_pregnancy_standard_dose_lowers_to_info_unless_deficiency_confirmed():
    pregnant = [pregnancy()]
    (card,) = cards_for(chart(labs=[b12(250)], drafts=[folic_acid_draft(0.4)], problems=pregnant))
    assert card.indicator == "info"
    (card,) = cards_for(chart(labs=[b12(150)], drafts=[folic_acid_draft(0.4)], problems=pregnant))
    assert card.indicator == "critical"


def test_pregnancy_with_unknown_dose_is_not_downgraded():
    (card,) = cards_for(
        chart(labs=[b12(250)], drafts=[folic_acid_draft(None)], problems=[pregnancy()])
    )
    assert card.indicator == "warning"


def test_stale_normal_b12_is_not_tested():
    (card,) = cards_for(chart(labs=[b12(420, on=days_ago(400))], drafts=[folic_acid_draft(5)]))
    assert card.indicator == "info" and "(over 12 months old)" in card.detail


def test_no_folic_acid_drafts_no_card():
    assert cards_for(chart(labs=[b12(150)])) == []
