"""The card texts of a service (``x-b12cds.cards`` in hooks/<id>.json): schema and start-up checks."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..knowledge import Knowledge
from ..protocol.response import SUMMARY_MAX
from ..rules.decision import RuleModule
from .detail import SIGNS_LONGEST

# Placeholders a detail template may use; each is filled with a markdown section or "".
DETAIL_FIELDS = frozenset({"decision", "values", "context", "regimen", "orders", "notes", "renal", "lookback_months",
                           "optional_test",
                           "next_test", "next_if_indeterminate", "damage_months", "reassess_months", "signs",
                           "neuro_signs"})
SUMMARY_FIELDS = frozenset({"next_test", "signs", "neuro_signs"})
_LONGEST_SAMPLE = {"next_test": "active B12 (holotranscobalamin)", "signs": SIGNS_LONGEST,
                   "neuro_signs": SIGNS_LONGEST}

class _Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SourceText(_Text):
    label: str = Field(min_length=1)
    guideline: str = Field(min_length=1)  # id in clinical.json guidelines
    source: str = Field(min_length=1)


class OverrideReasonText(_Text):
    display: str = Field(min_length=1)
    source: str = Field(min_length=1)
    when: Literal["pregnant"] | None = None  # offered only when this applies to the patient


class VariantText(_Text):
    summary: str = Field(min_length=1)
    detail: str | None = None  # None: the kind's detail
    source: str = Field(min_length=1)


class KindText(_Text):
    summary: str = Field(min_length=1)
    detail: str = Field(min_length=1)
    links: tuple[str, ...] = Field(min_length=1)
    override_reasons: tuple[str, ...] = Field(min_length=1, alias="overrideReasons")
    source: str = Field(min_length=1)
    variants: dict[str, VariantText] = {}
    # The card's source when it is not the service's (a kind resting on another guideline).
    card_source: SourceText | None = Field(None, alias="cardSource")


class SuggestionText(_Text):
    label: str = Field(min_length=1)
    source: str = Field(min_length=1)
    detail: str | None = None  # a sentence the card adds when it offers this suggestion


class NoteText(_Text):
    summary: str = Field(min_length=1)
    text: str = Field(min_length=1)  # may use {decision}
    source: str = Field(min_length=1)


class CardTexts(_Text):
    source: SourceText
    override_reason_system: str = Field(min_length=1, alias="overrideReasonSystem")
    override_reasons: dict[str, OverrideReasonText] = Field(alias="overrideReasons")
    kinds: dict[str, KindText]
    suggestions: dict[str, SuggestionText]
    # Why (B12-RULES.md §7): a folic-acid card lowered to info for pregnancy says pregnancy is why.
    lead_notes: dict[str, NoteText] = Field(default_factory=dict, alias="leadNotes")
    orders_heading: str = Field("Draft order", min_length=1, alias="ordersHeading")


def parse_card_texts(module: RuleModule, texts: Mapping[str, Any], kb: Knowledge) -> CardTexts:
    """Validate a service's card texts against what its rule module's table can decide.

    Every kind the rows can give, each wording they can pick, each suggestion they can offer and
    each lead note must be defined; placeholders are the generic ones plus the module's own.

    :raises ValueError: naming the missing or bad field ("kinds.deficient.summary: ...").
    """
    try:
        parsed = CardTexts.model_validate(dict(texts))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ValueError(f"{field}: {first['msg']}") from None
    for kind, variants in module.kinds.items():
        if kind not in parsed.kinds:
            raise ValueError(f"kinds.{kind}: missing")
        for variant in variants:
            if variant not in parsed.kinds[kind].variants:
                raise ValueError(f"kinds.{kind}.variants.{variant}: missing")
    for suggestion in module.suggestions:
        if suggestion not in parsed.suggestions:
            raise ValueError(f"suggestions.{suggestion}: missing")
    fields = _Fields(DETAIL_FIELDS | set(module.placeholders), SUMMARY_FIELDS | set(module.placeholders),
                     {**_LONGEST_SAMPLE, **module.placeholders})
    for note in module.notes:
        if note not in parsed.lead_notes:
            raise ValueError(f"leadNotes.{note}: missing")
        _check_wording(f"leadNotes.{note}", parsed.lead_notes[note].summary, parsed.lead_notes[note].text, fields)
    if parsed.source.guideline not in kb.guidelines:
        raise ValueError(f"source.guideline: {parsed.source.guideline!r} is not a guideline in clinical.json")
    for name, kind in parsed.kinds.items():
        _check_kind(f"kinds.{name}", kind, parsed, kb, fields)
    return parsed


def card_texts(module: RuleModule, texts: CardTexts | Mapping[str, Any], kb: Knowledge) -> CardTexts:
    """The texts as parsed at start-up; raw texts (a test's CardContext) are parsed now."""
    return texts if isinstance(texts, CardTexts) else parse_card_texts(module, texts, kb)


@dataclass(frozen=True)
class _Fields:
    detail: frozenset[str] | set[str]
    summary: frozenset[str] | set[str]
    samples: Mapping[str, str]


def _check_kind(where: str, kind: KindText, texts: CardTexts, kb: Knowledge, fields: _Fields) -> None:
    if kind.card_source is not None and kind.card_source.guideline not in kb.guidelines:
        raise ValueError(f"{where}.cardSource.guideline: {kind.card_source.guideline!r} is not a guideline "
                         "in clinical.json")
    for link in kind.links:
        if link not in kb.guidelines:
            raise ValueError(f"{where}.links: {link!r} is not a guideline in clinical.json")
    for reason in kind.override_reasons:
        if reason not in texts.override_reasons:
            raise ValueError(f"{where}.overrideReasons: {reason!r} is not defined in overrideReasons")
    _check_wording(where, kind.summary, kind.detail, fields)
    for name, variant in kind.variants.items():
        _check_wording(f"{where}.variants.{name}", variant.summary, variant.detail or kind.detail, fields)


def _check_wording(where: str, summary: str, detail: str, fields: _Fields) -> None:
    _check_template(f"{where}.detail", detail, fields.detail)
    _check_template(f"{where}.summary", summary, fields.summary)
    longest = summary.format(**fields.samples)
    if len(longest) >= SUMMARY_MAX:
        raise ValueError(f"{where}.summary: {len(longest)} characters when filled; "
                         f"must be under {SUMMARY_MAX}")


def placeholders(template: str) -> tuple[str, ...]:
    """Every placeholder ``str.format_map`` looks up in a text, in order (those in a format spec too).

    >>> placeholders("{decision} and {values}{notes:{renal}}")
    ('decision', 'values', 'notes', 'renal')
    """
    names: list[str] = []
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            names.append(name)
            names.extend(placeholders(spec) if spec else ())
    return tuple(names)


def _check_template(where: str, template: str, allowed: frozenset[str] | set[str]) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    unknown = names - allowed
    if unknown:
        raise ValueError(f"{where}: unknown placeholder(s) {sorted(unknown)}; allowed {sorted(allowed)}")
