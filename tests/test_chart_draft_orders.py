"""Draft orders: only live drafts count, and what they mean for the folic-acid card.

A draft that was cancelled, stopped or entered in error never triggers; a draft without a status
is read as live (the cautious branch) and named; B12 in the same draft orders silences the card.
"""

from __future__ import annotations

import pytest
from builders.cards import run
from builders.fhir import (
    FOLIC_ACID_5MG,
    IM,
    RXNORM,
    b12_observation,
    chart_from_fhir,
    concept,
    daily,
    draft_order,
)

SIGN = "folic-acid-safety-sign"


# --- draft orders that are not live ---------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "stopped", "completed", "revoked"])
def test_folic_acid_draft_that_was_cancelled_or_stopped_never_triggers(status: str) -> None:
    draft = draft_order(FOLIC_ACID_5MG, id="fa", status=status, dosageInstruction=[daily(1)])
    built = chart_from_fhir(draft_orders=[draft], observations=[b12_observation(150)])
    assert built.draft_orders == ()
    assert run(SIGN, built) == []


@pytest.mark.parametrize("status", ["draft", "active", "on-hold"])
def test_folic_acid_draft_that_is_live_still_triggers(status: str) -> None:
    draft = draft_order(FOLIC_ACID_5MG, id="fa", status=status, dosageInstruction=[daily(1)])
    (card,) = run(SIGN, chart_from_fhir(draft_orders=[draft], observations=[b12_observation(150)]))
    assert card.indicator == "critical"


def test_cancelled_hydroxocobalamin_draft_is_not_b12_alongside_folic_acid() -> None:
    folic = draft_order(FOLIC_ACID_5MG, id="fa", dosageInstruction=[daily(1)])
    hydroxo = draft_order(concept(None, None, text="Hydroxocobalamin 1 mg/mL injection"), id="hx", status="cancelled",
                     dosageInstruction=[{"route": IM, "text": "1 mg IM every 3 months"}])
    (card,) = run(SIGN, chart_from_fhir(draft_orders=[folic, hydroxo], observations=[b12_observation(150)]))
    assert card.indicator == "critical"


def test_folic_acid_with_oral_b12_1mg_tablet_in_the_same_draft_is_silent() -> None:
    folic = draft_order(FOLIC_ACID_5MG, id="fa", dosageInstruction=[daily(1)])
    b12 = draft_order(concept(RXNORM, "309593", "vitamin B12 1 MG Oral Tablet"), id="b12",
                 dosageInstruction=[daily(1, "tablet", text="1 tablet by mouth once daily")])
    assert run(SIGN, chart_from_fhir(draft_orders=[folic, b12], observations=[b12_observation(150)])) == []



def test_folic_acid_draft_without_a_status_is_read_as_a_live_draft():
    draft = {"resourceType": "MedicationRequest", "id": "no-status", "intent": "order",
             "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "Folic acid 5 mg tablet"}}
    built = chart_from_fhir(draft_orders=[draft])
    [order] = built.draft_orders
    assert order.active and order.is_draft and order.source_ref == "MedicationRequest/no-status"
    assert any("without a usable status" in note for note in built.notes)
