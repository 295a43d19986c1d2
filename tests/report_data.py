"""Generated shown cards and feedback with known rates, for the report tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cds_service.feedback_store import FeedbackStore
from cds_service.protocol.feedback import parse_feedback
from cds_service.shown_cards import ShownCards

SERVICE = "folic-acid-safety-sign"
KIND = "folate_deficient"
WEEK_1 = datetime(2026, 8, 3, 10, tzinfo=UTC)  # a Monday
WEEK_2 = datetime(2026, 8, 10, 10, tzinfo=UTC)
REASONS = {"patient-declined": "Patient declined", "replacement-arranged": "B12 replacement already arranged"}
#: (week, shown, accepted, overridden for "patient-declined", overridden for "replacement-arranged")
PLAN = ((WEEK_1, 40, 10, 15, 5), (WEEK_2, 60, 30, 10, 5))
SUPPRESSED = 5


def card(number: int) -> dict:
    """A card as sent on the wire: two suggestions with fixed labels."""
    return {"uuid": f"00000000-0000-4000-8000-{number:012d}", "indicator": "critical", "summary": "s",
            "source": {"label": "x", "topic": {"code": KIND}},
            "suggestions": [{"uuid": f"im-{number}", "label": "Hydroxocobalamin IM"},
                            {"uuid": f"rm-{number}", "label": "Remove the folic acid order"}]}


def accepted(number: int, when: datetime) -> dict:
    return {"card": card(number)["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": f"im-{number}"}],
            "outcomeTimestamp": when.isoformat()}


def overridden(number: int, when: datetime, code: str) -> dict:
    reason = {"system": "https://b12-cds.example.org/CodeSystem/override-reason", "code": code,
              "display": REASONS[code]}
    return {"card": card(number)["uuid"], "outcome": "overridden", "overrideReason": {"reason": reason},
            "outcomeTimestamp": when.isoformat()}


def generate(store: FeedbackStore) -> None:
    """Write the plan's cards and feedback, plus cards outside the period and a changed mind."""
    shown, items, number = ShownCards(store.engine), [], 0
    for week, count, n_accepted, n_declined, n_arranged in PLAN:
        outcomes = ["a"] * n_accepted + ["d"] * n_declined + ["r"] * n_arranged
        outcomes += [""] * (count - len(outcomes))
        for index, outcome in enumerate(outcomes):
            number += 1
            when = week + timedelta(hours=index % 48)
            shown.record(SERVICE, f"hook-{number}", [card(number)], when)
            if outcome == "a":
                items.append(accepted(number, when + timedelta(minutes=1)))
            elif outcome:
                items.append(overridden(number, when + timedelta(minutes=1),
                                        "patient-declined" if outcome == "d" else "replacement-arranged"))
    # A changed mind: overridden first, then the card's suggestion accepted -> counts as accepted once.
    items.append(overridden(1, WEEK_1, "patient-declined"))
    for _ in range(SUPPRESSED):
        number += 1
        shown.record(SERVICE, f"hook-{number}", [], WEEK_2, suppressed=[card(number)])
    number += 1  # shown the week before the period: not counted
    shown.record(SERVICE, "hook-early", [card(number)], WEEK_1 - timedelta(days=3))
    items.append(accepted(number, WEEK_1))
    store.add(SERVICE, list(parse_feedback({"feedback": items}).feedback))
