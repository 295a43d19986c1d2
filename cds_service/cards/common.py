"""Assemble a Card from a kind's wording, its filled texts and the suggestions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..knowledge import Knowledge
from ..protocol.response import Card, Coding, Indicator, Link, Source, Suggestion
from ..rules.assessment import B12Assessment
from . import detail
from .context import CardContext
from .resources import SuggestionFields
from .texts import CardTexts, placeholders

#: Card kinds as ``source.topic`` (CDS Hooks 2.0: a topic categorises the card for filtering and
#: analytics): feedback can then be counted per kind without storing the card itself.
TOPIC_SYSTEM = "https://b12-cds.example.org/CodeSystem/card-kind"


def topic(kind: str, source: str) -> Coding:
    """The card kind as ``source.topic``, its display naming the rule a reviewer traces it to.

    Why (B12-RULES.md §9): internal rule ids never appear in text a clinician reads; they live
    here, in the call log and in docs/services. The display is the first clause of the kind's
    ``source`` ("B12-RULES.md §5 patient-view row 1").

    >>> topic("deficient", "B12-RULES.md §5 row 2; seeds 002, 004").display
    'deficient: B12-RULES.md §5 row 2'
    """
    return Coding(system=TOPIC_SYSTEM, code=kind, display=f"{kind.replace('_', ' ')}: {source.split(';')[0]}")


#: Every detail placeholder of the assessment a text may use: placeholder -> (assessment, kb) -> markdown.
SECTIONS: dict[str, Callable[[B12Assessment, Knowledge], str]] = {
    "decision": lambda a, kb: a.status.reason,
    "values": detail.values,
    "context": detail.context,
    "notes": detail.notes,
    "renal": lambda a, kb: detail.renal(a),
    "next_test": lambda a, kb: detail.next_test(a),
    "next_if_indeterminate": lambda a, kb: detail.next_if_indeterminate(a),
    "signs": lambda a, kb: detail.signs(a),
    "neuro_signs": lambda a, kb: detail.neuro_signs(a),
    "damage_months": lambda a, kb: str(kb.durations.untreated_permanent_damage.months),
    "reassess_months": lambda a, kb: str(kb.durations.on_treatment_reassessment.months),
    "lookback_months": lambda a, kb: str(kb.durations.lab_lookback.months),
    "regimen": lambda a, kb: "",
    "orders": lambda a, kb: "",
    "optional_test": lambda a, kb: "",
}


@dataclass(frozen=True)
class Wording:
    """What a card takes from its texts alone: the same for every card of a kind, wording and patient.

    ``summary`` and ``detail`` are the templates; ``fields`` the placeholders the two use, each once, read
    from them once (a card fills only these: issue #12); the source, override reasons and links are
    validated once and shared by those cards (frozen models).
    """

    summary: str
    detail: str
    fields: tuple[str, ...]
    source: Source
    override_reasons: tuple[Coding, ...]
    links: tuple[Link, ...]


#: (id(texts), kind, variant, applies) -> (texts, kb, wording); bounded (a test's raw texts are parsed per call).
_WORDINGS: dict[tuple[int, str, str | None, frozenset[str]], tuple[CardTexts, Knowledge, Wording]] = {}
_WORDINGS_MAX = 512


def wording(texts: CardTexts, kb: Knowledge, kind: str, variant: str | None = None,
            applies: frozenset[str] = frozenset()) -> Wording:
    """The wording of a kind (``variant`` picks one of its variants), built once per texts and kept.

    ``applies`` names what holds for this patient ("pregnant"), so an override reason marked ``when`` is
    offered only then.
    """
    key = (id(texts), kind, variant, applies)
    kept = _WORDINGS.get(key)
    if kept is not None and kept[0] is texts and kept[1] is kb:
        return kept[2]
    text = texts.kinds[kind]
    variant_text = text.variants.get(variant) if variant else None
    summary = variant_text.summary if variant_text else text.summary
    body = variant_text.detail if variant_text and variant_text.detail else text.detail
    source = text.card_source or texts.source
    made = Wording(
        summary=summary,
        detail=body,
        fields=tuple(dict.fromkeys((*placeholders(summary), *placeholders(body)))),
        source=Source(label=source.label, url=kb.guidelines[source.guideline].url,
                      topic=topic(kind, variant_text.source if variant_text else text.source)),
        override_reasons=tuple(
            Coding(system=texts.override_reason_system, code=code, display=texts.override_reasons[code].display)
            for code in text.override_reasons
            if texts.override_reasons[code].when is None or texts.override_reasons[code].when in applies),
        links=tuple(Link(label=kb.guidelines[g].label, url=kb.guidelines[g].url, type="absolute")
                    for g in text.links),
    )
    if len(_WORDINGS) >= _WORDINGS_MAX:
        _WORDINGS.clear()
    _WORDINGS[key] = (texts, kb, made)
    return made


def make_card(ctx: CardContext, words: Wording, indicator: Indicator, summary: str, body: str,
              suggestions: list[SuggestionFields] | list[Suggestion] | None = None,
              selection: Literal["at-most-one", "any"] = "any") -> Card:
    """Build and validate one card from its finished summary and detail; ``selection`` only matters with
    suggestions.

    The suggestions may come as their fields (``resources.py``): they are then validated with the card.
    Why the text is finished first: the card is validated once, as it is sent (a lead note replaces the
    summary before, not after, the check).

    Why "any" by default: CDS Hooks 2.0 requires selectionBehavior with suggestions, and Epic
    honours only "any". "at-most-one" is used solely where suggestions are true alternatives
    (IM vs oral B12), where accepting both would double-treat; a client that supports only
    "any" still shows both, and isRecommended marks the guideline's first choice.
    """
    suggestions = suggestions or []
    return Card(
        uuid=ctx.new_uuid(),
        summary=summary,
        detail=body,
        indicator=indicator,
        source=words.source,
        suggestions=suggestions,
        selectionBehavior=selection if suggestions else None,
        overrideReasons=words.override_reasons,
        links=words.links,
    )
