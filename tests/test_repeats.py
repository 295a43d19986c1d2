"""No repeats: a card overridden at order-select is not shown again at order-sign for the same draft."""

from __future__ import annotations

import copy
import logging
from datetime import timedelta
from typing import Any

import pytest
from helpers import FIXED_NOW, FIXTURES, load_json
from sqlalchemy import select, text

from cds_service import create_app
from cds_service.feedback_store import cards_shown_table
from cds_service.repeats import guard_table

SCENARIO = FIXTURES / "folic_acid_ordered_b12_deficient"
KEY = "k" * 40
SELECT, SIGN = "folic-acid-safety-select", "folic-acid-safety-sign"


def request(service: str) -> dict[str, Any]:
    return load_json(SCENARIO / f"{service}.request.json")


def select_card(client) -> dict[str, Any]:
    response = client.post(f"/cds-services/{SELECT}", json=request(SELECT))
    response.close()  # as a server does once the response is sent: the shown cards are written then
    [card] = response.get_json()["cards"]
    assert card["source"]["topic"]["code"] == "folate_deficient"
    return card


def feedback(client, card: dict[str, Any], outcome: str = "overridden") -> None:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-09-01T09:01:00Z"}
    if outcome == "overridden":
        item["overrideReason"] = {"reason": card["overrideReasons"][0]}
    else:
        item["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
    assert client.post(f"/cds-services/{SELECT}/feedback", json={"feedback": [item]}).status_code == 200


def sign_cards(client, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    response = client.post(f"/cds-services/{SIGN}", json=body or request(SIGN))
    response.close()
    assert response.status_code == 200
    return response.get_json()["cards"]


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self):
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guarded(app_config, clock):
    return create_app({**app_config, "SUPPRESSION_KEY": KEY, "CLOCK": clock})


def test_overridden_at_select_is_not_shown_again_at_sign(guarded):
    client = guarded.test_client()
    feedback(client, select_card(client))
    assert sign_cards(client) == []
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'b12cds_cards_suppressed_total{{kind="folate_deficient",service="{SIGN}"}} 1.0' in metrics
    assert guarded.extensions["b12cds"].shown.flush()  # the worker's writer thread
    with guarded.extensions["b12cds"].store.engine.connect() as connection:
        rows = connection.execute(select(cards_shown_table.c.service_id, cards_shown_table.c.suppressed)).all()
    assert sorted(rows) == [(SELECT, False), (SIGN, True)]


@pytest.mark.parametrize("outcome", ["accepted", None])
def test_an_accepted_or_ignored_card_is_shown_again(guarded, outcome):
    client = guarded.test_client()
    card = select_card(client)
    if outcome:
        feedback(client, card, outcome)
    assert len(sign_cards(client)) == 1


def test_accepting_after_overriding_shows_the_card_again(guarded):
    client = guarded.test_client()
    card = select_card(client)
    feedback(client, card, "overridden")
    feedback(client, card, "accepted")
    assert len(sign_cards(client)) == 1


def test_a_changed_dose_is_a_new_draft(guarded):
    client = guarded.test_client()
    feedback(client, select_card(client))
    body = copy.deepcopy(request(SIGN))
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 10
    assert len(sign_cards(client, body)) == 1


def test_another_folic_acid_draft_at_sign_shows_the_card(guarded):
    client = guarded.test_client()
    feedback(client, select_card(client))
    body = copy.deepcopy(request(SIGN))
    second = copy.deepcopy(body["context"]["draftOrders"]["entry"][0])
    second["resource"]["id"] = "fad-draft-fa-2"
    body["context"]["draftOrders"]["entry"].append(second)
    assert len(sign_cards(client, body)) == 1


def test_the_window_ends(guarded, clock):
    client = guarded.test_client()
    feedback(client, select_card(client))
    clock.now = FIXED_NOW + timedelta(hours=23, minutes=59)
    assert sign_cards(client) == []
    clock.now = FIXED_NOW + timedelta(hours=24, minutes=1)
    assert len(sign_cards(client)) == 1


def test_without_a_key_nothing_is_suppressed(app_config):
    app = create_app(app_config)
    client = app.test_client()
    feedback(client, select_card(client))
    assert len(sign_cards(client)) == 1


def test_only_keyed_hashes_are_stored(guarded):
    client = guarded.test_client()
    select_card(client)
    with guarded.extensions["b12cds"].store.engine.connect() as connection:
        [row] = [dict(r._mapping) for r in connection.execute(select(guard_table))]
    assert len(row["guard_key"]) == 64 and int(row["guard_key"], 16) >= 0
    assert "fad-" not in str(row)


def test_another_key_does_not_recognise_the_draft(app_config, tmp_path):
    first = create_app({**app_config, "SUPPRESSION_KEY": KEY})
    feedback(first.test_client(), select_card(first.test_client()))
    second = create_app({**app_config, "SUPPRESSION_KEY": "z" * 40})
    assert len(sign_cards(second.test_client())) == 1


def test_a_database_failure_shows_the_card_and_is_logged_once(guarded, caplog):
    client = guarded.test_client()
    feedback(client, select_card(client))
    with guarded.extensions["b12cds"].store.engine.begin() as connection:
        connection.execute(text("DROP TABLE cds_repeat_guard"))
    with caplog.at_level(logging.WARNING, logger="cds_service.repeats"):
        assert len(sign_cards(client)) == 1
        assert len(sign_cards(client)) == 1
    assert len([r for r in caplog.records if r.name == "cds_service.repeats"]) == 1


@pytest.mark.parametrize("key", ["short", 12])
def test_a_weak_key_stops_start_up(app_config, key):
    from cds_service.errors import ConfigError

    with pytest.raises(ConfigError, match="SUPPRESSION_KEY"):
        create_app({**app_config, "SUPPRESSION_KEY": key})
