"""A jti replay cache in the service's database, shared by every worker and instance that uses it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..feedback_store import create_tables

metadata = MetaData()

replay_table = Table(
    "jwt_replay",
    metadata,
    # sha256 of (iss, jti): fixed length, and no claim value is stored as such
    Column("token_key", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)

#: Purge expired rows on about one insert in this many, so the table stays small without a job.
PURGE_EVERY = 100


class SqlReplayCache:
    """ReplayCache on SQLAlchemy: the primary key makes "first one wins" atomic across processes."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._inserts = 0
        create_tables(metadata, engine)

    def seen(self, jti: str, iss: str, expires_at: float) -> bool:
        """Return True if (iss, jti) was recorded before (by any process); otherwise record it."""
        key = hashlib.sha256(f"{iss}\n{jti}".encode()).hexdigest()
        now = self._clock()
        try:
            with self._engine.begin() as connection:
                self._inserts += 1
                if self._inserts % PURGE_EVERY == 0:
                    connection.execute(delete(replay_table).where(replay_table.c.expires_at <= now))
                connection.execute(insert(replay_table).values(token_key=key, expires_at=expires_at))
            return False
        except IntegrityError:
            return self._still_remembered(key, now, expires_at)

    def _still_remembered(self, key: str, now: float, expires_at: float) -> bool:
        """A row may be left from an expired token: replace it and accept; a live row means a replay."""
        try:
            with self._engine.begin() as connection:
                removed = connection.execute(
                    delete(replay_table).where(replay_table.c.token_key == key, replay_table.c.expires_at <= now))
                if removed.rowcount == 0:
                    return True
                connection.execute(insert(replay_table).values(token_key=key, expires_at=expires_at))
            return False
        except IntegrityError:  # another process replaced it first: that one was the first use
            return True
