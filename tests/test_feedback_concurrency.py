"""Many threads posting feedback at once: every item stored exactly once, and kept across a restart."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from cds_service import create_app

THREADS = 8
ITEMS_PER_THREAD = 25


def item(card: str) -> dict:
    return {"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
            "outcomeTimestamp": "2026-09-01T09:05:00Z"}


def test_concurrent_feedback_is_stored_exactly_once_and_survives_a_restart(app_config):
    app = create_app(app_config)
    cards = [str(uuid.uuid4()) for _ in range(THREADS * ITEMS_PER_THREAD)]

    def post_all(offset: int) -> list[int]:
        client = app.test_client()
        statuses = []
        # each thread posts its own items, then every other thread's first item again (duplicates)
        for index in range(ITEMS_PER_THREAD):
            own = cards[offset * ITEMS_PER_THREAD + index]
            shared = cards[(index % THREADS) * ITEMS_PER_THREAD]
            response = client.post("/cds-services/b12-status/feedback", json={"feedback": [item(own), item(shared)]})
            statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        statuses = [status for result in pool.map(post_all, range(THREADS)) for status in result]
    assert set(statuses) == {200}
    assert app.extensions["b12cds"].store.count("b12-status") == len(cards)

    restarted = create_app(app_config)
    rows = restarted.extensions["b12cds"].store.rows("b12-status")
    assert sorted(row["card_uuid"] for row in rows) == sorted(cards)
