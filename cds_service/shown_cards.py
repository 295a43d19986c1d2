"""Record the cards each hook call returned, so that feedback can be joined to what was shown.

Nothing about the patient is written (see ``feedback_store.cards_shown_table``). Recording is best effort: a
database that cannot be written never fails a hook call; the first failure is logged, then it carries on.

In the service the rows are written by a thread of each worker process (``background``): a hook call only
puts its rows on a bounded queue, and the writer inserts everything queued meanwhile in one transaction. One
commit per call cost about a tenth of a call's CPU under load (profile in docs/performance.md). What is queued
is written before the process exits; rows that would overflow the queue (a database stalled for minutes) are
dropped, logged once, like a failed write.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
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
    """Writes shown (and suppressed) cards to the feedback database; never raises.

    :param background: write from a thread of this process, many calls' rows per transaction (an in-memory
        SQLite database is written in the caller's thread: each thread would see a database of its own).
    :param max_queued: calls whose rows may wait for the writer; beyond that, rows are dropped (logged once).
    """

    #: At most this many calls' rows in one transaction.
    BATCH = 256
    #: Seconds the writer rests after each transaction, gathering rows (a card is in the table within about this).
    PAUSE = 0.1

    def __init__(self, engine: Engine, *, background: bool = False, max_queued: int = 5000) -> None:
        self._engine = engine
        self._failed_once = False
        url = engine.url
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        self._background = background and not in_memory
        self._max_queued = max_queued
        self._queue: queue.Queue[list[dict[str, Any]]] | None = None
        self._pid = 0  # the process whose writer thread serves the queue (a gunicorn worker is a fork)
        self._lock = threading.Lock()

    def record(self, service_id: str, hook_instance: str, cards: Iterable[Mapping[str, Any]], when: datetime,
               suppressed: Iterable[Mapping[str, Any]] = ()) -> None:
        """Write one row per card in one transaction (or queue them for the writer); log the first failure."""
        rows = [shown_row(service_id, hook_instance, card, when) for card in cards]
        rows += [shown_row(service_id, hook_instance, card, when, suppressed=True) for card in suppressed]
        if not rows:
            return
        if not self._background:
            self._write(rows)
            return
        try:
            self._writer_queue().put_nowait(rows)
        except queue.Full:
            self._failed(f"more than {self._max_queued} calls' cards wait for the database")

    def start(self) -> None:
        """Start this process's writer now (a new worker, before it serves), not on the first call."""
        if self._background:
            self._writer_queue()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row queued so far is written (or ``timeout`` seconds); True when all are."""
        q = self._queue
        if q is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not q.all_tasks_done.wait(remaining):
                    return not q.unfinished_tasks
        return True

    def _writer_queue(self) -> queue.Queue[list[dict[str, Any]]]:
        """The queue of this process, its writer thread started on first use (after a fork: in the worker)."""
        if self._pid != os.getpid() or self._queue is None:
            with self._lock:
                if self._pid != os.getpid() or self._queue is None:
                    self._queue = queue.Queue(self._max_queued)
                    threading.Thread(target=self._run, args=(self._queue,), name="b12cds-shown-cards",
                                     daemon=True).start()
                    atexit.register(self.flush)
                    self._pid = os.getpid()
        return self._queue

    def _run(self, rows_queue: queue.Queue[list[dict[str, Any]]]) -> None:
        """The writer: whatever has been queued meanwhile (up to BATCH calls) goes in one transaction.

        Why it pauses after each write: a call that queues rows while the writer waits on the queue wakes
        it (a thread switch per call, and one transaction per call again); while it pauses, calls queue
        their rows without waking anyone and the next transaction takes them all.
        """
        while True:
            batch = [rows_queue.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(rows_queue.get_nowait())
                except queue.Empty:
                    break
            self._write([row for rows in batch for row in rows])
            for _ in batch:
                rows_queue.task_done()
            time.sleep(self.PAUSE)

    def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(cards_shown_table), rows)
        except Exception:  # a full disk, a lost database: the clinician still gets the cards
            self._failed("could not record the cards of a hook call", exc_info=True)

    def _failed(self, why: str, exc_info: bool = False) -> None:
        if not self._failed_once:
            self._failed_once = True
            log.warning("shown cards: %s; the report will miss them (logged once)", why, exc_info=exc_info)
