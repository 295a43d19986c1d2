"""CDS Hooks 2.0 response models: cards, suggestions, actions, links.

Serialise with :func:`to_json` so that no element is ever ``null`` or empty
(CDS Hooks 2.0 §"Card Attributes"), except the top-level ``cards`` array.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

SUMMARY_MAX = 140  # "<140 characters" (CDS Hooks 2.0, Card.summary)
#: A required string must carry text: pruning would silently drop an empty one and break the card.
Text = Annotated[str, StringConstraints(min_length=1)]


class _Wire(BaseModel):
    """Base for wire models: strict field names, no extras."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=True)


class Indicator(StrEnum):
    """Card urgency; clients sort critical > warning > info."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Coding(_Wire):
    """A FHIR Coding; CDS Hooks requires ``display`` on override reasons."""

    system: str
    code: str
    display: str | None = None


class Source(_Wire):
    """Where the card's guidance comes from: shown to the clinician."""

    label: Text
    url: HttpUrl | None = None
    icon: HttpUrl | None = None
    topic: Coding | None = None


class Action(_Wire):
    """One change to apply; the actions of a suggestion form one transaction."""

    type: Literal["create", "update", "delete"]
    description: Text
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _resource_matches_type(self) -> Action:
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action needs a complete resource")
        if self.type == "delete" and not self.resourceId:
            raise ValueError("a delete action needs resourceId ('Type/id')")
        return self


class Suggestion(_Wire):
    """A one-click set of actions."""

    label: Text
    uuid: str = Field(default_factory=lambda: str(uuid_lib.uuid4()))
    isRecommended: bool | None = None
    actions: list[Action] = Field(default_factory=list)


class Link(_Wire):
    """A link to a guideline (absolute) or a SMART app."""

    label: Text
    url: HttpUrl
    type: Literal["absolute", "smart"] = "absolute"
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        # 2.0: appContext "is not valid for absolute links".
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links")
        return self


class Card(_Wire):
    """One card shown to the clinician."""

    uuid: str = Field(default_factory=lambda: str(uuid_lib.uuid4()))
    summary: Text
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] = Field(default_factory=list)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    # The draft orders ("MedicationRequest/<id>") the card is about. Never sent: it lets the service recognise
    # the same card for the same draft at order-select and order-sign (``repeats``).
    _about_drafts: tuple[str, ...] = PrivateAttr(default=())

    @property
    def about_drafts(self) -> tuple[str, ...]:
        """The draft orders this card is about (empty when none)."""
        return self._about_drafts

    def about(self, refs: Iterable[str]) -> Card:
        """Note the draft orders this card is about, and return the card."""
        self._about_drafts = tuple(ref for ref in refs if ref)
        return self

    @field_validator("summary")
    @classmethod
    def _summary_short(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("summary must not be empty")
        if len(value) >= SUMMARY_MAX:
            raise ValueError(f"summary must be under {SUMMARY_MAX} characters, got {len(value)}")
        return value

    @field_validator("overrideReasons")
    @classmethod
    def _reasons_have_display(cls, value: list[Coding]) -> list[Coding]:
        for reason in value:
            if not reason.display:
                raise ValueError(f"override reason {reason.code!r} needs a display")
        return value

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Card:
        # CDS Hooks 2.0: selectionBehavior SHALL be present when suggestions are.
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when a card has suggestions")
        recommended = sum(1 for suggestion in self.suggestions if suggestion.isRecommended)
        if self.selectionBehavior == "at-most-one" and recommended > 1:
            raise ValueError("at most one suggestion may be recommended when only one can be chosen")
        return self


class CDSResponse(_Wire):
    """The body of a hook call's 200 response."""

    cards: list[Card] = Field(default_factory=list)
    systemActions: list[Action] = Field(default_factory=list)


def to_json(model: BaseModel) -> dict[str, Any]:
    """Dump a wire model with no null or empty elements, keeping ``cards`` always.

    >>> to_json(CDSResponse())
    {'cards': []}
    """
    data = _prune(model.model_dump(mode="json", exclude_none=True))
    if isinstance(model, CDSResponse):
        data.setdefault("cards", [])
    return data


def _prune(value: Any) -> Any:
    """Drop empty lists, dicts and strings recursively (FHIR and CDS Hooks forbid them).

    Written as plain loops (one pass, containers only recursed into): it runs over every response.

    >>> _prune({"a": [{}, "", None, 0, False, [[]]], "b": {"c": ""}, "d": "x"})
    {'a': [0, False], 'd': 'x'}
    """
    if isinstance(value, dict):
        pruned: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, dict | list):
                item = _prune(item)
                if item:
                    pruned[key] = item
            elif item is not None and item != "":
                pruned[key] = item
        return pruned
    if isinstance(value, list):
        kept: list[Any] = []
        for item in value:
            if isinstance(item, dict | list):
                item = _prune(item)
                if item:
                    kept.append(item)
            elif item is not None and item != "":
                kept.append(item)
        return kept
    return value
