"""Record the cards each hook call returned, so that feedback can be joined to what was shown.

Nothing about the patient is written (see ``feedback_store.cards_shown_table``). Recording is best effort: a
database that cannot be written never fails a hook call; the first failure is logged, then it carries on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from .feedback_store import cards_shown_table

log = logging.getLogger(__name__)


def card_kind(card: Mapping[str, Any]) -> str:
    """The card's kind: its ``source.topic.code`` ("" when it has none).

    >>> card_kind({"source": {"topic": {"code": "deficient"}}}), card_kind({"source": {}})
    ('deficient', '')
    """
    return str(((card.get("source") or {}).get("topic") or {}).get("code") or "")


def shown_row(service_id: str, hook_instance: str, card: Mapping[str, Any], when: datetime,
              suppressed: bool = False) -> dict[str, Any]:
    """One row of ``cds_cards_shown`` for a card as sent on the wire (a dict)."""
    labels = {str(s.get("uuid")): str(s.get("label", "")) for s in card.get("suggestions") or ()}
    return {
        "hook_instance": hook_instance[:64],
        "service_id": service_id,
        "card_uuid": str(card.get("uuid", ""))[:36],
        "kind": card_kind(card)[:64],
        "indicator": str(card.get("indicator", ""))[:16],
        "suggestions": json.dumps(labels, sort_keys=True),
        "suppressed": suppressed,
        "shown_time": when.astimezone(UTC),  # SQLite keeps no zone: always UTC
    }


class ShownCards:
    """Writes shown (and suppressed) cards to the feedback database; never raises."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._failed_once = False

    def record(self, service_id: str, hook_instance: str, cards: Iterable[Mapping[str, Any]], when: datetime,
               suppressed: Iterable[Mapping[str, Any]] = ()) -> None:
        """Write one row per card in one transaction; log the first failure and carry on."""
        rows = [shown_row(service_id, hook_instance, card, when) for card in cards]
        rows += [shown_row(service_id, hook_instance, card, when, suppressed=True) for card in suppressed]
        if not rows:
            return
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(cards_shown_table), rows)
        except Exception:  # a full disk, a lost database: the clinician still gets the cards
            if not self._failed_once:
                self._failed_once = True
                log.warning("shown cards: could not record the cards of a hook call; the report will miss them "
                            "(logged once)", exc_info=True)
