"""Card wording follows the evidence and the patient, for b12-status and the folic-acid cards.

"Probable" for a functional deficiency inferred from MMA alone, the renal caveat when total and
active B12 are both borderline, oral B12 offered only when absorption is intact, and the
pregnancy override reason only for a patient who is pregnant.
"""

from __future__ import annotations

import re

import pytest
from builders.cards import checked_cards as cards_for
from builders.facts import active, b12, chart, egfr, folic_acid_draft, mma, pregnancy, problem

from cds_service.chart.facts import ProblemCategory

P = ProblemCategory
SIGN = "folic-acid-safety-sign"


# --- probable functional deficiency says "probable" ----------------------------------------------


@pytest.mark.parametrize(("problems", "kind"), [([problem(P.NEUROPATHY)], "deficient_neuro"), ([], "deficient")])
def test_probable_functional_deficiency_card_summary_says_probable(problems, kind):
    (card,) = cards_for("b12-status", chart(labs=[b12(420), mma(0.68), egfr(80)], problems=problems))
    assert card.source.topic.code == kind
    assert card.summary.startswith("Probable functional B12 deficiency")


def test_probable_functional_deficiency_folic_acid_card_summary_says_probable():
    (card,) = cards_for(SIGN, chart(labs=[b12(420), mma(0.68), egfr(80)], drafts=[folic_acid_draft(5)]))
    assert card.source.topic.code == "folate_deficient"
    assert "probable" in card.summary.lower()


def test_confirmed_deficiency_summary_does_not_say_probable():
    (card,) = cards_for("b12-status", chart(labs=[b12(150)]))
    assert "probable" not in card.summary.lower()


@pytest.mark.parametrize("service", ["b12-status", SIGN])
def test_b12_400_raised_mma_normal_active_b12_is_silent(service):
    c = chart(labs=[b12(400), active(90), mma(0.68), egfr(80)], drafts=[folic_acid_draft(5)])
    assert cards_for(service, c) == []


def test_b12_400_raised_mma_normal_active_b12_notes_the_mma_on_another_card():
    c = chart(labs=[b12(400), active(90), mma(0.68), egfr(80)], problems=[problem(P.MOTOR_NEUROPATHY)])
    cards = cards_for("b12-status", c)
    assert [card.source.topic.code for card in cards] == ["pure_motor"]
    assert "MMA" in cards[0].detail and "above the default upper limit" in cards[0].detail


# --- renal caveat with total and active B12 both borderline ------------------------------------


def _renal_borderline(**extra):
    return chart(labs=[b12(298), active(50), mma(0.68), egfr(25)], **extra)


def test_renal_impairment_with_borderline_total_and_active_b12_does_not_ask_for_mma():
    (card,) = cards_for("b12-status", _renal_borderline(problems=[problem(P.NEUROPATHY)]))
    assert card.source.topic.code == "indeterminate"
    assert not re.search(r"\border\b", card.summary, re.IGNORECASE)
    assert "active B12 is already borderline" in card.detail
    assert "Suggested next test" not in card.detail
    assert "active B12 is the better test" not in card.detail
    assert card.suggestions == []


def test_folic_acid_with_renal_impairment_and_borderline_b12_markers_does_not_say_check_mma():
    (card,) = cards_for(SIGN, _renal_borderline(drafts=[folic_acid_draft(5)]))
    assert card.source.topic.code == "folate_indeterminate"
    assert "check MMA" not in card.summary
    assert "first or alongside" in card.detail
    assert "active B12 is already borderline" in card.detail


# --- card wording matches the patient -------------------------------------------------------------


def test_deficient_with_pernicious_anaemia_summary_does_not_offer_oral():
    (card,) = cards_for("b12-status", chart(labs=[b12(150)], problems=[problem(P.PERNICIOUS_ANAEMIA)]))
    assert card.source.topic.code == "deficient"
    assert "oral" not in card.summary.lower()
    (only,) = card.suggestions
    assert "oral" not in only.label.lower()


def test_deficient_without_malabsorption_summary_still_mentions_oral():
    (card,) = cards_for("b12-status", chart(labs=[b12(150)]))
    assert "oral if absorption intact" in card.summary


def test_pregnancy_override_reason_is_not_offered_for_a_patient_who_is_not_pregnant():
    (card,) = cards_for(SIGN, chart(labs=[b12(150)], drafts=[folic_acid_draft(5)], sex="male"))
    assert "pregnancy-standard-care" not in [r.code for r in card.overrideReasons]


def test_pregnancy_override_reason_is_offered_when_pregnancy_is_on_the_problem_list():
    c = chart(labs=[b12(250)], drafts=[folic_acid_draft(0.4)], problems=[pregnancy()])
    (card,) = cards_for(SIGN, c)
    assert "pregnancy-standard-care" in [r.code for r in card.overrideReasons]
