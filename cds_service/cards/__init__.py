"""Cards: a rule module's decisions -> CDS Hooks cards with validated FHIR R4 suggestions (§5-§6).

One generic renderer (:mod:`.render`) for every service; the words come from the service's card
texts (``x-b12cds.cards``), parsed once at start-up against what its rule module can decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..knowledge import Knowledge, load_knowledge
from ..protocol.response import Card
from ..rules.decision import Decision
from ..rules.services import rule_module
from .context import CardContext
from .render import render
from .texts import CardTexts, card_texts, parse_card_texts


def render_cards(module: str, decisions: tuple[Decision, ...], ctx: CardContext,
                 kb: Knowledge) -> list[Card]:
    """Render a rule module's decisions with the service's texts, in the order decided."""
    texts = ctx.texts if isinstance(ctx.texts, CardTexts) else card_texts(rule_module(module), ctx.texts, kb)
    return [render(decision, ctx, texts, kb) for decision in decisions]


def validate_card_texts(module: str, texts: Mapping[str, Any]) -> CardTexts:
    """Check a service's card texts at start-up and return them parsed (kept for every call).

    :raises ValueError: naming the missing or bad field.
    """
    try:
        rules = rule_module(module)
    except KeyError:
        raise ValueError(f"unknown evaluator {module!r}") from None
    return parse_card_texts(rules, texts, load_knowledge())


__all__ = ["CardContext", "render_cards", "validate_card_texts"]
