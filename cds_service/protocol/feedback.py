"""CDS Hooks 2.0 feedback models: ``{"feedback": [Feedback, ...]}``."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .request import NonEmpty, _validate


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


def parse_feedback(body: Any) -> FeedbackRequest:
    """Validate a decoded feedback body, or raise InvalidRequest naming the field."""
    return _validate(FeedbackRequest, body, prefix="")
