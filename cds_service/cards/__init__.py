"""Cards: rule results -> CDS Hooks cards with validated FHIR R4 suggestions (B12-RULES.md §5-§6)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..chart.facts import Chart
from ..knowledge.clinical import load_clinical_knowledge
from ..protocol.response import Card
from .texts import CardTexts, parse_card_texts


@dataclass(frozen=True)
class CardContext:
    """What a card needs from the hook call; ``new_uuid`` is injected so goldens are stable."""

    service_id: str
    hook: str
    patient_id: str
    encounter_id: str | None
    user_id: str | None
    selections: tuple[str, ...]
    texts: CardTexts | Mapping[str, Any]  # the service's x-b12cds.cards block, parsed at start-up
    new_uuid: Callable[[], str]


Evaluator = Callable[[Chart, CardContext], list[Card]]

from .folic_acid import evaluate_folic_acid_safety  # noqa: E402 -- needs CardContext defined first
from .patient_view import evaluate_b12_status  # noqa: E402

EVALUATORS: dict[str, Evaluator] = {
    "b12_status": evaluate_b12_status,
    "folic_acid_safety": evaluate_folic_acid_safety,
}


def validate_card_texts(evaluator: str, texts: Mapping[str, Any]) -> CardTexts:
    """Check a service's card texts at start-up and return them parsed (kept for every call).

    :raises ValueError: naming the missing or bad field.
    """
    return parse_card_texts(evaluator, texts, load_clinical_knowledge())


__all__ = ["EVALUATORS", "CardContext", "Evaluator", "validate_card_texts"]
