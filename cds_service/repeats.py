"""No repeated cards: a card overridden at order-select is not shown again at order-sign for the same draft.

At order-select, each card about draft orders leaves one row per draft: a keyed hash (HMAC-SHA256 with
``SUPPRESSION_KEY``) of the patient id, the card's kind and indicator, and the draft's clinical content (its
id, medication and dosage), with the card's uuid. Overridden feedback on that card marks its rows for
``SUPPRESSION_WINDOW_HOURS``; accepted feedback unmarks them. At order-sign, a card is withheld only when
*every* draft it is about has a marked, unexpired row: a changed dose or product, another triggering draft,
another kind or a higher indicator all give new hashes, so the card shows. No patient or order id is stored.

Every database error is logged once and the cards are shown: a repeat is safer than a missing warning.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, delete, func, insert, select, update
from sqlalchemy.engine import Engine

from .feedback_store import create_tables
from .protocol.response import Card

log = logging.getLogger(__name__)
metadata = MetaData()

guard_table = Table(
    "cds_repeat_guard",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guard_key", String(64), nullable=False, index=True),  # HMAC of patient, kind, indicator, draft
    Column("card_uuid", String(36), nullable=False, index=True),
    Column("overridden", Boolean, nullable=False, default=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

#: Purge expired rows on about one write in this many, so the table stays small without a job.
PURGE_EVERY = 100
#: The parts of a draft MedicationRequest that make it "the same draft": anything else may change freely.
DRAFT_IDENTITY = ("resourceType", "id", "medicationCodeableConcept", "medicationReference", "contained",
                  "dosageInstruction")


def draft_identity(resource: Mapping[str, Any]) -> str:
    """The draft's id and clinical content as canonical JSON: a new dose or product is a new draft.

    >>> draft_identity({"resourceType": "MedicationRequest", "id": "1", "note": [{"text": "x"}]})
    '{"id":"1","resourceType":"MedicationRequest"}'
    """
    kept = {key: resource[key] for key in DRAFT_IDENTITY if key in resource}
    return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class RepeatGuard:
    """Remembers order-select cards, marks the overridden ones, and withholds their repeats at order-sign."""

    def __init__(self, engine: Engine, key: bytes, window: timedelta) -> None:
        self._engine = engine
        self._key = key
        self.window = window
        self._writes = 0
        self._failed_once = False
        create_tables(metadata, engine)

    def keys(self, patient_id: str, card: Card, drafts: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """One keyed hash per draft the card is about; [] when it is about none we can identify."""
        refs = card.about_drafts
        if not refs or any(ref not in drafts for ref in refs):
            return []
        return [self._hash(patient_id, card, drafts[ref]) for ref in refs]

    def screen(self, hook: str, patient_id: str, draft_resources: Iterable[Mapping[str, Any]], cards: list[Card],
               now: datetime) -> tuple[list[Card], list[Card]]:
        """Return (cards to show, cards withheld): order-select remembers its cards, order-sign checks them."""
        drafts = {f"{r.get('resourceType')}/{r.get('id')}": r for r in draft_resources if r.get("id")}
        pairs = [(card, self.keys(patient_id, card, drafts)) for card in cards]
        if hook == "order-select":
            self.remember(pairs, now)
            return cards, []
        if hook != "order-sign":
            return cards, []
        withheld = self.withheld(pairs, now)
        return [c for c in cards if c.uuid not in withheld], [c for c in cards if c.uuid in withheld]

    def remember(self, cards: Iterable[tuple[Card, list[str]]], now: datetime) -> None:
        """order-select: note each card's keys, not yet overridden."""
        now = now.astimezone(UTC)
        rows = [{"guard_key": key, "card_uuid": card.uuid, "overridden": False, "expires_at": now + self.window}
                for card, keys in cards for key in keys]
        if rows:
            self._safely("remember", lambda c: self._insert(c, rows, now))

    def feedback(self, outcomes: Mapping[str, str], now: datetime) -> None:
        """Overridden cards (uuid -> last outcome) start their window now; accepted ones are never withheld."""
        if not outcomes:
            return
        now = now.astimezone(UTC)

        def mark(connection: Any) -> None:
            for outcome in ("overridden", "accepted"):
                uuids = sorted(uuid for uuid, said in outcomes.items() if said == outcome)
                if uuids:
                    connection.execute(update(guard_table).where(guard_table.c.card_uuid.in_(uuids)).values(
                        overridden=outcome == "overridden", expires_at=now + self.window))

        self._safely("feedback", mark)

    def withheld(self, cards: Sequence[tuple[Card, list[str]]], now: datetime) -> set[str]:
        """order-sign: the uuids of the cards whose every draft was overridden within the window."""
        wanted = {key for _, keys in cards for key in keys}
        if not wanted:
            return set()
        now = now.astimezone(UTC)
        query = (select(guard_table.c.guard_key).where(
            guard_table.c.guard_key.in_(sorted(wanted)), guard_table.c.overridden.is_(True),
            guard_table.c.expires_at > now).group_by(guard_table.c.guard_key))
        found: set[str] = set()
        self._safely("check", lambda c: found.update(row[0] for row in c.execute(query)))
        return {card.uuid for card, keys in cards if keys and set(keys) <= found}

    def count(self) -> int:
        """Rows held (for tests and operators)."""
        with self._engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(guard_table)).scalar_one())

    def _hash(self, patient_id: str, card: Card, draft: Mapping[str, Any]) -> str:
        kind = card.source.topic.code if card.source.topic else ""
        message = json.dumps([patient_id, kind, str(card.indicator), draft_identity(draft)], ensure_ascii=False)
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def _insert(self, connection: Any, rows: list[dict[str, Any]], now: datetime) -> None:
        self._writes += 1
        if self._writes % PURGE_EVERY == 0:
            connection.execute(delete(guard_table).where(guard_table.c.expires_at <= now))
        connection.execute(insert(guard_table), rows)

    def _safely(self, what: str, work: Callable[[Any], Any]) -> None:
        try:
            with self._engine.begin() as connection:
                work(connection)
        except Exception:  # the database is down or full: show the cards, never fail the call
            if not self._failed_once:
                self._failed_once = True
                log.warning("repeat suppression: %s failed; cards are shown again meanwhile (logged once)", what,
                            exc_info=True)
