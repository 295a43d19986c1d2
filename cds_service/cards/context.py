"""What a card needs from the hook call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .texts import CardTexts


@dataclass(frozen=True)
class CardContext:
    """What a card needs from the hook call; ``new_uuid`` is injected so goldens are stable."""

    service_id: str
    hook: str
    patient_id: str
    encounter_id: str | None
    user_id: str | None
    selections: tuple[str, ...]
    texts: CardTexts | Mapping[str, Any]  # the service's card texts, parsed at start-up
    new_uuid: Callable[[], str]
