"""Feedback (CDS Hooks 2.0): the array is validated, stored once, and survives a restart."""

from __future__ import annotations

import pytest

from cds_service import create_app

CARD = "8f0e8b1c-2b7a-4f5e-9c1d-0a3b5c7d9e11"


def accepted(card: str = CARD, when: str = "2026-09-01T09:05:00Z") -> dict:
    return {"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "sugg-1"}],
            "outcomeTimestamp": when}


def overridden(card: str = CARD) -> dict:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-09-01T09:06:00+02:00",
            "overrideReason": {"reason": {"system": "https://b12-cds.example.org/override-reason",
                                          "code": "already-arranged", "display": "B12 replacement already arranged"},
                               "userComment": "given in clinic"}}


def post(client, body, service="b12-status"):
    return client.post(f"/cds-services/{service}/feedback", json=body)


def test_feedback_items_are_stored_with_what_the_clinician_did(client, app):
    response = post(client, {"feedback": [accepted(), overridden("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")]})
    assert response.status_code == 200
    assert response.get_json() == {"stored": 2, "duplicates": 0}
    rows = app.extensions["b12cds"].store.rows("b12-status")
    assert [(r["card_uuid"], r["outcome"]) for r in rows] == [
        (CARD, "accepted"), ("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "overridden")]
    assert rows[0]["accepted_suggestions"] == '["sugg-1"]'
    assert rows[1]["override_reason_code"] == "already-arranged"
    assert rows[1]["override_reason_display"] == "B12 replacement already arranged"
    assert rows[1]["override_comment"] == "given in clinic"
    assert rows[1]["outcome_time"] is not None and rows[1]["received_time"] is not None


def test_feedback_sent_twice_is_stored_once(client, app):
    assert post(client, {"feedback": [accepted()]}).get_json() == {"stored": 1, "duplicates": 0}
    assert post(client, {"feedback": [accepted()]}).get_json() == {"stored": 0, "duplicates": 1}
    assert app.extensions["b12cds"].store.count("b12-status") == 1


def test_feedback_survives_a_restart(app_config):
    first = create_app(app_config)
    post(first.test_client(), {"feedback": [accepted()]})
    second = create_app(app_config)  # a new app instance on the same database file
    assert second.extensions["b12cds"].store.count("b12-status") == 1
    assert post(second.test_client(), {"feedback": [accepted()]}).get_json()["duplicates"] == 1


@pytest.mark.parametrize(("body", "field"), [
    ({}, "feedback"),
    ({"feedback": []}, "feedback"),
    ({"feedback": {"card": CARD}}, "feedback"),  # a single object, not the 2.0 array
    ({"feedback": [{**accepted(), "card": "not-a-uuid"}]}, "feedback[0].card"),
    ({"feedback": [{**accepted(), "outcome": "ignored"}]}, "feedback[0].outcome"),
    ({"feedback": [{**accepted(), "outcomeTimestamp": "2026-09-01T09:05:00"}]}, "feedback[0].outcomeTimestamp"),
    ({"feedback": [{k: v for k, v in accepted().items() if k != "outcomeTimestamp"}]},
     "feedback[0].outcomeTimestamp"),
    ({"feedback": [{**overridden(), "acceptedSuggestions": [{"id": "x"}]}]}, "feedback[0]"),
    ({"feedback": [{k: v for k, v in accepted().items() if k != "acceptedSuggestions"}]}, "feedback[0]"),
    ({"feedback": [{**overridden(), "overrideReason": {}}]}, "feedback[0].overrideReason"),
])
def test_invalid_feedback_is_400_naming_the_field(client, app, body, field):
    response = post(client, body)
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [field]
    assert app.extensions["b12cds"].store.count() == 0


def test_feedback_for_an_unknown_service_is_404(client):
    assert post(client, {"feedback": [accepted()]}, service="nope").status_code == 404


@pytest.mark.parametrize(("item", "field"), [
    ({**overridden(), "overrideReason": {"userComment": "given \ud800 in clinic"}},
     "feedback[0].overrideReason.userComment"),
    ({**overridden(), "overrideReason": {"reason": {"code": "x", "display": "\udfff"}}},
     "feedback[0].overrideReason.reason.display"),
    ({**accepted(), "acceptedSuggestions": [{"id": "s\ud800"}]}, "feedback[0].acceptedSuggestions[0].id"),
])
def test_text_that_is_not_valid_unicode_is_400_naming_the_field(client, app, item, field):
    """A lone surrogate (JSON "\\ud800") cannot be stored as UTF-8: refused, never a 500 at the insert."""
    response = client.post("/cds-services/b12-status/feedback", json={"feedback": [item]})
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["issue"][0]["expression"] == [field]
    assert app.extensions["b12cds"].store.count() == 0


def test_more_feedback_items_than_the_limit_is_413(app_config):
    app = create_app({**app_config, "MAX_FEEDBACK_ITEMS": 3})
    items = [accepted(when=f"2026-09-01T09:0{i}:00Z") for i in range(4)]
    response = post(app.test_client(), {"feedback": items})
    assert response.status_code == 413
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["feedback"]
    assert "at most 3" in outcome["issue"][0]["diagnostics"]
    assert app.extensions["b12cds"].store.count() == 0
    assert post(app.test_client(), {"feedback": items[:3]}).get_json() == {"stored": 3, "duplicates": 0}


def test_many_feedback_items_are_stored_in_one_go_with_duplicates_counted(client, app):
    items = [accepted(card=f"8f0e8b1c-2b7a-4f5e-9c1d-{i:012d}") for i in range(200)]
    assert post(client, {"feedback": items[:50]}).get_json() == {"stored": 50, "duplicates": 0}
    assert post(client, {"feedback": items + items[:1]}).get_json() == {"stored": 150, "duplicates": 51}
    assert app.extensions["b12cds"].store.count("b12-status") == 200
