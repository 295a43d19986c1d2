"""Assemble a Card from a kind's texts, the assessment's sections and the suggestions."""

from __future__ import annotations

from typing import Literal

from ..knowledge import Knowledge
from ..protocol.response import Card, Coding, Indicator, Link, Source, Suggestion
from ..rules.assessment import B12Assessment
from . import detail
from .context import CardContext
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


def sections(a: B12Assessment, kb: Knowledge, **extra: str) -> dict[str, str]:
    """Every detail placeholder filled from the assessment (unused ones are simply ignored)."""
    values = {
        "decision": a.status.reason, "values": detail.values(a, kb), "context": detail.context(a, kb),
        "notes": detail.notes(a, kb), "renal": detail.renal(a), "next_test": detail.next_test(a),
        "damage_months": str(kb.durations.untreated_permanent_damage.months),
        "reassess_months": str(kb.durations.on_treatment_reassessment.months),
        "lookback_months": str(kb.durations.lab_lookback.months), "regimen": "", "orders": "", "optional_test": "",
    }
    values.update(extra)
    return values


def make_card(ctx: CardContext, texts: CardTexts, kb: Knowledge, kind: str, indicator: Indicator,
              values: dict[str, str], suggestions: list[Suggestion] | None = None,
              selection: Literal["at-most-one", "any"] = "any", *, variant: str | None = None,
              applies: frozenset[str] = frozenset()) -> Card:
    """Build one card; ``selection`` only matters when there are suggestions.

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
    reasons = [code for code in text.override_reasons
               if texts.override_reasons[code].when is None or texts.override_reasons[code].when in applies]
    source = text.card_source or texts.source
    source_guideline = kb.guidelines[source.guideline]
    suggestions = suggestions or []
    return Card(
        uuid=ctx.new_uuid(),
        summary=summary.format(**values),
        detail=detail.tidy(body.format(**values)),
        indicator=indicator,
        source=Source(label=source.label, url=source_guideline.url,
                      topic=topic(kind, wording.source if wording else text.source)),
        suggestions=suggestions,
        selectionBehavior=selection if suggestions else None,
        overrideReasons=[Coding(system=texts.override_reason_system, code=code,
                                display=texts.override_reasons[code].display)
                         for code in reasons],
        links=[Link(label=kb.guidelines[g].label, url=kb.guidelines[g].url, type="absolute")
               for g in text.links],
    )
