"""Liveness and readiness."""

from __future__ import annotations

from sqlalchemy import create_engine


def test_liveness(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readiness_when_the_feedback_store_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_readiness_fails_with_an_operation_outcome_when_the_store_does_not_answer(client, app, tmp_path):
    # A database file inside a directory that does not exist cannot be opened.
    app.extensions["b12cds"].store.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.sqlite3")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["issue"][0]["code"] == "transient"
