"""One renderer for every service: a rule module's Decision + the service's card texts -> a Card.

It decides nothing: the kind, level, wording variant and offers come from the Decision; the words
from the texts parsed at start-up; the values and dates from the Decision's evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from ..knowledge import Knowledge
from ..protocol.response import Card, Indicator
from ..rules.decision import Decision, Fact, Labs, Level, Offer, Regimen, RemoveDrafts, Span
from . import detail
from .common import SECTIONS, make_card, wording
from .context import CardContext
from .resources import SuggestionFields, delete_suggestion, lab_suggestion, regimen_suggestion
from .texts import CardTexts


def render(decision: Decision, ctx: CardContext, texts: CardTexts, kb: Knowledge) -> Card:
    """The card for one decision (suggestion uuids first, then the card's: goldens depend on it)."""
    suggestions = [_suggestion(offer, ctx, texts, kb) for offer in decision.offers]
    words = wording(texts, kb, decision.kind, decision.variant, decision.applies)
    values = _values(decision, texts, kb, words.fields)
    summary, body = words.summary.format_map(values), detail.tidy(words.detail.format_map(values))
    if decision.lead is not None:
        summary, body = _with_lead(body, decision, texts)
    card = make_card(ctx, words, _INDICATOR[decision.level], summary, body, suggestions,
                     "at-most-one" if decision.alternatives else "any")
    # The drafts the card is about: an override at order-select then spares the same drafts at order-sign.
    return card.about([o.use.source_ref for o in decision.orders]) if decision.orders else card


_INDICATOR = {level: Indicator(level.value) for level in Level}


def _values(decision: Decision, texts: CardTexts, kb: Knowledge, fields: tuple[str, ...]) -> dict[str, str]:
    """The placeholders the card's texts use, each computed once: the decision's facts, then the sections it
    fills itself, then the assessment's.

    Why only ``fields`` (read from the texts once, ``common.wording``): a text uses a few of the sections, and
    the others (values, earlier results, data-quality notes) are the costly ones. Why a plain dict, not one
    that computes a missing key when ``str.format_map`` asks (issue #12): the same values, without a Python
    ``__missing__`` call, and a table lookup of its own, for every placeholder of every card.
    """
    values = {k: _fact(v) for k, v in decision.facts.items()} if decision.facts else {}
    a = decision.evidence
    for name in fields:
        if name not in values:
            own = _OWN.get(name)
            values[name] = own(decision, texts, kb) if own is not None else SECTIONS[name](a, kb)
    return values


def _notes(decision: Decision, texts: CardTexts, kb: Knowledge) -> str:
    return detail.notes(decision.evidence, kb, frozenset(o.use.source_ref for o in decision.orders))


def _orders(decision: Decision, texts: CardTexts, kb: Knowledge) -> str:
    return detail.orders(decision.orders, texts.orders_heading) if decision.orders else ""


#: The sections a decision fills itself (before the assessment's): placeholder -> (decision, texts, kb) -> markdown.
_OWN: dict[str, Callable[[Decision, CardTexts, Knowledge], str]] = {
    "regimen": lambda decision, texts, kb: _regimen(decision, kb), "notes": _notes,
    "optional_test": lambda decision, texts, kb: _optional_test(decision, texts), "orders": _orders}


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


def _with_lead(body: str, decision: Decision, texts: CardTexts) -> tuple[str, str]:
    """The texts' note replaces the summary and the lead paragraph; the values stay below it.

    Returns the card's (summary, detail). Why (B12-RULES.md §7): a folic acid card lowered to info for
    pregnancy says pregnancy is why; "check B12 before starting folic acid" must not delay standard
    pregnancy folic acid.
    """
    note = texts.lead_notes[decision.lead or ""]
    rest = body.split("\n\n", 1)[1] if "\n\n" in body else ""
    lead = note.text.format(decision=decision.evidence.status.reason)
    return note.summary, detail.tidy(f"{lead}\n\n{rest}")
