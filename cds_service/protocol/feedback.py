"""CDS Hooks 2.0 feedback models: ``{"feedback": [Feedback, ...]}``."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ..errors import InvalidRequest, PayloadTooLarge
from .request import NonEmpty, _validate, field_path


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ReasonCoding(_Incoming):
    """The override reason the clinician chose (a Coding from the card's overrideReasons)."""

    system: str | None = None
    code: NonEmpty
    display: str | None = None


class OverrideReason(_Incoming):
    """Why a card was overridden, with an optional free-text comment."""

    reason: ReasonCoding | None = None
    userComment: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> OverrideReason:
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason or a userComment")
        return self


class AcceptedSuggestion(_Incoming):
    """A suggestion the clinician accepted, by its uuid."""

    id: NonEmpty


class Feedback(_Incoming):
    """One end-user interaction with a card."""

    card: uuid.UUID
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _fields_match_outcome(self) -> Feedback:
        # 2.0: acceptedSuggestions only with outcome accepted; overrideReason only with overridden.
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is only allowed when outcome is 'accepted'")
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            # 2.0: acceptedSuggestions is "Required for accepted outcomes".
            raise ValueError("acceptedSuggestions is required when outcome is 'accepted'")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason is only allowed when outcome is 'overridden'")
        return self


class FeedbackRequest(_Incoming):
    """The body of ``POST /cds-services/{id}/feedback``."""

    feedback: list[Feedback] = Field(min_length=1)


#: Feedback items one request may carry (413 beyond): an EHR sends a few at a time.
DEFAULT_MAX_ITEMS = 1000


def parse_feedback(body: Any, max_items: int = DEFAULT_MAX_ITEMS) -> FeedbackRequest:
    """Validate a decoded feedback body, or raise InvalidRequest naming the field (413 for too many items)."""
    items = body.get("feedback") if isinstance(body, dict) else None
    if isinstance(items, list) and len(items) > max_items:
        raise PayloadTooLarge(f"feedback holds {len(items)} items; at most {max_items} are accepted in one request",
                              expression=["feedback"])
    unencodable = _unencodable_text(body)
    if unencodable is not None:
        raise InvalidRequest(f"{unencodable}: text must be valid Unicode (a lone surrogate cannot be stored)",
                             expression=[unencodable])
    return _validate(FeedbackRequest, body, prefix="")


def _unencodable_text(body: Any) -> str | None:
    """The path of the first string (or member name) that has no UTF-8 form, e.g. a lone surrogate."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str) and not _encodes(node):
            return field_path("", loc) or "body"
        if isinstance(node, dict):
            for name, value in reversed(node.items()):
                if not _encodes(name):
                    return field_path("", loc) or "body"
                stack.append((value, (*loc, name)))
        elif isinstance(node, list):
            stack.extend((value, (*loc, index)) for index, value in reversed(list(enumerate(node))))
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
