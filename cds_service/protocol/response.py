"""CDS Hooks 2.0 response models: cards, suggestions, actions, links.

Serialise with :func:`to_json` so that no element is ever ``null`` or empty
(CDS Hooks 2.0 §"Card Attributes"), except the top-level ``cards`` array. The models make that hold
by construction: every string is required to carry text, every optional element's default (None, an
empty list) is left out when dumped, and the suggested resources come from templates checked at
start-up for empty elements (``cards/resources.py``).
"""

from __future__ import annotations

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


class _Shared(_Wire):
    """A wire model built once and shared by many cards (``cards/common.py``): frozen."""

    model_config = ConfigDict(frozen=True)


class Coding(_Shared):
    """A FHIR Coding; CDS Hooks requires ``display`` on override reasons."""

    system: Text
    code: Text
    display: Text | None = None


class Source(_Shared):
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
    resourceId: Text | None = None

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
    uuid: Text  # required: a default would be called again by every dump (``exclude_defaults``)
    isRecommended: bool | None = None
    actions: list[Action] = Field(default_factory=list)


class Link(_Shared):
    """A link to a guideline (absolute) or a SMART app."""

    label: Text
    url: HttpUrl
    type: Literal["absolute", "smart"]  # required by CDS Hooks 2.0: no default, which a dump would leave out
    appContext: Text | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context_only_for_smart(self) -> Link:
        # 2.0: appContext "is not valid for absolute links".
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on smart links")
        return self


class Card(_Wire):
    """One card shown to the clinician."""

    uuid: Text  # required: a default would be called again by every dump (``exclude_defaults``)
    summary: Text
    detail: Text | None = None
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

    Why no pruning pass: the models cannot hold an empty string (``Text``), and what is left out is
    exactly each element's default (None, an empty list), so the dump has no empties to prune; a pass
    over every response, suggested resources included, was a third of the serialising (issue #12).

    A response or a card is dumped by hand (:func:`_card`), the same dict as ``model_dump(mode="json",
    exclude_none=True, exclude_defaults=True)`` (``tests/test_cards_fast_paths.py`` compares the two);
    any other model by pydantic.

    >>> to_json(CDSResponse())
    {'cards': []}
    """
    kind = type(model)
    if kind is CDSResponse:
        data: dict[str, Any] = {"cards": [_card(card) for card in model.cards]} if model.cards else {}  # type: ignore[attr-defined]
        if model.systemActions:  # type: ignore[attr-defined]
            data["systemActions"] = [_action(action) for action in model.systemActions]  # type: ignore[attr-defined]
    elif kind is Card:
        return _card(model)  # type: ignore[arg-type]
    else:
        data = model.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    if isinstance(model, CDSResponse):
        data.setdefault("cards", [])
    return data


# Why by hand (issue #12): pydantic's dump walked each suggested resource (``dict[str, Any]``) to infer and
# copy every value, two thirds of the dump, and dumped the shared parts again for every card. Each function
# leaves out what pydantic's would (None, an empty list) in the models' field order. A resource is placed as
# it is, not copied: it holds JSON values only (a template parsed by orjson plus the call's references,
# ``cards/resources.py``), made afresh for its card.
_DUMPED = {CDSResponse: ("cards", "systemActions"),
           Card: ("uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
                  "overrideReasons", "links"),
           Suggestion: ("label", "uuid", "isRecommended", "actions"),
           Action: ("type", "description", "resource", "resourceId")}
for _model, _names in _DUMPED.items():  # a field added to a model must be added to its dump below
    if tuple(_model.model_fields) != _names:  # pragma: no cover
        raise TypeError(f"{_model.__name__}: fields {tuple(_model.model_fields)}, dumped {_names}")


def _card(card: Card) -> dict[str, Any]:
    indicator = card.indicator
    data: dict[str, Any] = {"uuid": card.uuid, "summary": card.summary}
    if card.detail is not None:
        data["detail"] = card.detail
    data["indicator"] = indicator if type(indicator) is str else indicator.value
    data["source"] = _shared(card.source)
    if card.suggestions:
        data["suggestions"] = [_suggestion(suggestion) for suggestion in card.suggestions]
    if card.selectionBehavior is not None:
        data["selectionBehavior"] = card.selectionBehavior
    if card.overrideReasons:
        data["overrideReasons"] = [_shared(reason) for reason in card.overrideReasons]
    if card.links:
        data["links"] = [_shared(link) for link in card.links]
    return data


def _suggestion(suggestion: Suggestion) -> dict[str, Any]:
    data: dict[str, Any] = {"label": suggestion.label, "uuid": suggestion.uuid}
    if suggestion.isRecommended is not None:
        data["isRecommended"] = suggestion.isRecommended
    if suggestion.actions:
        data["actions"] = [_action(action) for action in suggestion.actions]
    return data


def _action(action: Action) -> dict[str, Any]:
    data: dict[str, Any] = {"type": action.type, "description": action.description}
    if action.resource is not None:
        data["resource"] = action.resource
    if action.resourceId is not None:
        data["resourceId"] = action.resourceId
    return data


#: id(part) -> (part, its dump): a card's source, override reasons and links are frozen and shared by every card
#: of their kind (``cards/common.py``), so each is dumped once, by pydantic; bounded (a test makes new ones).
_SHARED_DUMPS: dict[int, tuple[BaseModel, dict[str, Any]]] = {}
_SHARED_MAX = 1024


def _shared(part: BaseModel) -> dict[str, Any]:
    """A frozen part's dump, as a copy (a body is the caller's to change); its values are text or a Coding's."""
    kept = _SHARED_DUMPS.get(id(part))
    if kept is None or kept[0] is not part:
        if len(_SHARED_DUMPS) >= _SHARED_MAX:
            _SHARED_DUMPS.clear()
        dumped = part.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        kept = _SHARED_DUMPS[id(part)] = (part, dumped)
    dumped = kept[1]
    if "topic" in dumped:  # a Source's Coding: the only nested part
        return {**dumped, "topic": dumped["topic"].copy()}
    return dumped.copy()
