"""One renderer for every service: a rule module's Decision + the service's card texts -> a Card.

It decides nothing: the kind, level, wording variant and offers come from the Decision; the words
from the texts parsed at start-up; the values and dates from the Decision's evidence.
"""

from __future__ import annotations

from datetime import date

from ..knowledge import Knowledge
from ..protocol.response import Card, Indicator
from ..rules.decision import Decision, Fact, Labs, Offer, Regimen, RemoveDrafts, Span
from . import detail
from .common import make_card, sections
from .context import CardContext
from .resources import SuggestionFields, delete_suggestion, lab_suggestion, regimen_suggestion
from .texts import CardTexts


def render(decision: Decision, ctx: CardContext, texts: CardTexts, kb: Knowledge) -> Card:
    """The card for one decision (suggestion uuids first, then the card's: goldens depend on it)."""
    a = decision.evidence
    suggestions = [_suggestion(offer, ctx, texts, kb) for offer in decision.offers]
    drafts = frozenset(o.use.source_ref for o in decision.orders)
    lazy = {"regimen": lambda: _regimen(decision, kb), "notes": lambda: detail.notes(a, kb, drafts),
            "optional_test": lambda: _optional_test(decision, texts),
            "orders": lambda: detail.orders(decision.orders, texts.orders_heading) if decision.orders else ""}
    values = sections(a, kb, lazy, **{k: _fact(v) for k, v in decision.facts.items()})
    card = make_card(ctx, texts, kb, decision.kind, Indicator(decision.level.value), values, suggestions,
                     "at-most-one" if decision.alternatives else "any", variant=decision.variant,
                     applies=decision.applies)
    if decision.lead is not None:
        card = _with_lead(card, decision, texts)
    # The drafts the card is about: an override at order-select then spares the same drafts at order-sign.
    return card.about(o.use.source_ref for o in decision.orders) if decision.orders else card


def _suggestion(offer: Offer, ctx: CardContext, texts: CardTexts, kb: Knowledge) -> SuggestionFields:
    label = texts.suggestions[offer.key].label
    if isinstance(offer, Regimen):
        return regimen_suggestion(label, offer.key, ctx, kb, recommended=offer.recommended)
    if isinstance(offer, Labs):
        return lab_suggestion(label, offer.tests, ctx, kb, recommended=offer.recommended)
    if isinstance(offer, RemoveDrafts):
        return delete_suggestion(label, offer.drafts, ctx)
    raise TypeError(f"unknown offer {offer!r}")


def _regimen(decision: Decision, kb: Knowledge) -> str:
    """The recommended regimen in words (the first recommended regimen offered)."""
    key = next((o.key for o in decision.offers if isinstance(o, Regimen) and o.recommended), None)
    return detail.regimen(decision.evidence, kb, key) if key else ""


def _optional_test(decision: Decision, texts: CardTexts) -> str:
    """The sentences the texts add for optional tests offered (homocysteine: why it is optional)."""
    sentences = [texts.suggestions[o.key].detail for o in decision.offers
                 if isinstance(o, Labs) and not o.recommended and texts.suggestions[o.key].detail]
    return "".join(f" {s}" for s in sentences)


def _fact(value: Fact) -> str:
    if isinstance(value, Span):
        return f"{value.months // 12} years" if value.months >= 24 and value.months % 12 == 0 else (
            f"{value.months} months" if value.months != 1 else "1 month")
    if isinstance(value, date):
        return value.isoformat()
    return detail.escape_markdown(value)


def _with_lead(card: Card, decision: Decision, texts: CardTexts) -> Card:
    """The texts' note replaces the summary and the lead paragraph; the values stay below it.

    Why (B12-RULES.md §7): a folic acid card lowered to info for pregnancy says pregnancy is why;
    "check B12 before starting folic acid" must not delay standard pregnancy folic acid.
    """
    note = texts.lead_notes[decision.lead or ""]
    rest = card.detail.split("\n\n", 1)[1] if "\n\n" in card.detail else ""
    lead = note.text.format(decision=decision.evidence.status.reason)
    return card.model_copy(update={"summary": note.summary, "detail": detail.tidy(f"{lead}\n\n{rest}")})
