"""Many threads posting feedback at once: every item stored exactly once, and kept across a restart."""

from __future__ import annotations

from helpers import post_overlapping_feedback

from cds_service import create_app

THREADS = 8
ITEMS_PER_THREAD = 25


def item(card: str) -> dict:
    return {"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
            "outcomeTimestamp": "2026-09-01T09:05:00Z"}


def test_concurrent_feedback_is_stored_exactly_once_and_survives_a_restart(app_config):
    app = create_app(app_config)
    cards, statuses = post_overlapping_feedback([app], THREADS, ITEMS_PER_THREAD, item=item)
    assert set(statuses) == {200}
    assert app.extensions["b12cds"].store.count("b12-status") == len(cards)

    restarted = create_app(app_config)
    rows = restarted.extensions["b12cds"].store.rows("b12-status")
    assert sorted(row["card_uuid"] for row in rows) == sorted(cards)
