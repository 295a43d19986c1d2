"""Assemble a Card from a kind's texts, the assessment's sections and the suggestions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from ..knowledge import Knowledge
from ..protocol.response import Card, Coding, Indicator, Link, Source, Suggestion
from ..rules.assessment import B12Assessment
from . import detail
from .context import CardContext
from .resources import SuggestionFields
from .texts import CardTexts

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


class Sections(dict[str, str]):
    """Detail placeholders, each computed only when a text uses it (``str.format_map`` asks for it).

    Why lazy: a card's text uses a few of the placeholders; computing every section (values, earlier
    results, data-quality notes) for every card was a tenth of rendering. Values given up front win.
    """

    def __init__(self, a: B12Assessment, kb: Knowledge, values: Mapping[str, str],
                 lazy: Mapping[str, Callable[[], str]]) -> None:
        super().__init__(values)
        self._a, self._kb, self._lazy = a, kb, lazy

    def __missing__(self, key: str) -> str:
        lazy = self._lazy.get(key)
        if lazy is not None:
            value = lazy()
        elif key in _SECTIONS:
            value = _SECTIONS[key](self._a, self._kb)
        else:
            raise KeyError(key)
        self[key] = value
        return value


#: Every detail placeholder a text may use, filled from the assessment when first used.
_SECTIONS = {
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


def sections(a: B12Assessment, kb: Knowledge, lazy: Mapping[str, Callable[[], str]] | None = None,
             **extra: str) -> Sections:
    """Every detail placeholder, filled from the assessment when a text uses it: ``extra`` as given,
    ``lazy`` (placeholder -> function) and the assessment's own sections computed on first use."""
    return Sections(a, kb, extra, lazy or {})


def make_card(ctx: CardContext, texts: CardTexts, kb: Knowledge, kind: str, indicator: Indicator,
              values: Mapping[str, str], suggestions: list[SuggestionFields] | list[Suggestion] | None = None,
              selection: Literal["at-most-one", "any"] = "any", *, variant: str | None = None,
              applies: frozenset[str] = frozenset()) -> Card:
    """Build one card; ``selection`` only matters when there are suggestions.

    The suggestions may come as their fields (``resources.py``): they are then validated with the card.

    ``variant`` picks a wording of the kind (``texts.VARIANTS``); ``applies`` names what holds for
    this patient ("pregnant"), so an override reason marked ``when`` is offered only then.

    Why "any" by default: CDS Hooks 2.0 requires selectionBehavior with suggestions, and Epic
    honours only "any". "at-most-one" is used solely where suggestions are true alternatives
    (IM vs oral B12), where accepting both would double-treat; a client that supports only
    "any" still shows both, and isRecommended marks the guideline's first choice.
    """
    text = texts.kinds[kind]
    wording = text.variants.get(variant) if variant else None
    summary = wording.summary if wording else text.summary
    body = wording.detail if wording and wording.detail else text.detail
    source, reasons, links = _fixed_parts(texts, kb, kind, variant, applies)
    suggestions = suggestions or []
    return Card(
        uuid=ctx.new_uuid(),
        summary=summary.format_map(values),
        detail=detail.tidy(body.format_map(values)),
        indicator=indicator,
        source=source,
        suggestions=suggestions,
        selectionBehavior=selection if suggestions else None,
        overrideReasons=reasons,
        links=links,
    )


_FixedParts = tuple[Source, tuple[Coding, ...], tuple[Link, ...]]
#: (id(texts), kind, variant, applies) -> (texts, parts); bounded (a test's raw texts are parsed per call).
_FIXED: dict[tuple[int, str, str | None, frozenset[str]], tuple[CardTexts, Knowledge, _FixedParts]] = {}
_FIXED_MAX = 512


def _fixed_parts(texts: CardTexts, kb: Knowledge, kind: str, variant: str | None,
                 applies: frozenset[str]) -> _FixedParts:
    """The parts of a card that depend on its texts only (source, override reasons, links), validated once
    per texts and kept: frozen models, shared by every card of that kind and wording."""
    key = (id(texts), kind, variant, applies)
    kept = _FIXED.get(key)
    if kept is not None and kept[0] is texts and kept[1] is kb:
        return kept[2]
    text = texts.kinds[kind]
    wording = text.variants.get(variant) if variant else None
    source = text.card_source or texts.source
    parts = (
        Source(label=source.label, url=kb.guidelines[source.guideline].url,
               topic=topic(kind, wording.source if wording else text.source)),
        tuple(Coding(system=texts.override_reason_system, code=code, display=texts.override_reasons[code].display)
              for code in text.override_reasons
              if texts.override_reasons[code].when is None or texts.override_reasons[code].when in applies),
        tuple(Link(label=kb.guidelines[g].label, url=kb.guidelines[g].url, type="absolute") for g in text.links),
    )
    if len(_FIXED) >= _FIXED_MAX:
        _FIXED.clear()
    _FIXED[key] = (texts, kb, parts)
    return parts
