"""The PostgreSQL path, on a real server: feedback and the JWT replay cache shared by app instances.

The server is started once per session from the OS's PostgreSQL binaries (tests/postgres_server.py);
every test gets a database of its own. Without the binaries the tests are skipped on a developer's
machine and fail in CI (CI=true), where .ci/run installs them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import post_overlapping_feedback
from postgres_server import running_postgres, start_or_give_up

from cds_service.feedback_store import FeedbackStore
from cds_service.security import sql_replay
from cds_service.security.sql_replay import SqlReplayCache

CARD = "8f0e8b1c-2b7a-4f5e-9c1d-0a3b5c7d9e11"
PUBLIC = "https://cds.example.org"
ISS = "https://ehr.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())
THREADS = 8


def item(card: str = CARD, **fields: Any) -> dict[str, Any]:
    return {"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "sugg-1"}],
            "outcomeTimestamp": "2026-09-01T09:05:00Z", **fields}


def post(app, *items: dict[str, Any]):
    return app.test_client().post("/cds-services/b12-status/feedback", json={"feedback": list(items)})


# --- feedback ---

def test_feedback_round_trips_through_the_http_api(pg_config, make_app):
    app = make_app(pg_config)
    store = app.extensions["b12cds"].store
    assert store.engine.dialect.name == "postgresql"
    overridden = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-09-01T09:06:00+02:00",
                  "overrideReason": {"reason": {"system": "https://b12-cds.example.org/override-reason",
                                                "code": "already-arranged", "display": "B12 already arranged"},
                                     "userComment": "given in clinic"}}
    response = post(app, item(), overridden)
    assert (response.status_code, response.get_json()) == (200, {"stored": 2, "duplicates": 0})
    first, second = store.rows("b12-status")
    assert (first["card_uuid"], first["outcome"], first["accepted_suggestions"]) == (CARD, "accepted", '["sugg-1"]')
    assert (second["override_reason_code"], second["override_comment"]) == ("already-arranged", "given in clinic")
    # timestamptz keeps the instant whatever offset the EHR sent
    assert second["outcome_time"] == datetime(2026, 9, 1, 7, 6, tzinfo=UTC)
    assert first["received_time"].tzinfo is not None


def test_feedback_sent_twice_is_stored_once(pg_config, make_app):
    app = make_app(pg_config)
    assert post(app, item()).get_json() == {"stored": 1, "duplicates": 0}
    assert post(app, item(), item(str(uuid.uuid4()))).get_json() == {"stored": 1, "duplicates": 1}
    assert app.extensions["b12cds"].store.count("b12-status") == 2


def test_two_app_instances_share_the_store(pg_config, make_app):
    first, second = make_app(pg_config), make_app(pg_config)  # two instances behind a load balancer
    assert post(first, item()).get_json() == {"stored": 1, "duplicates": 0}
    assert post(second, item()).get_json() == {"stored": 0, "duplicates": 1}
    assert post(second, item(str(uuid.uuid4()))).get_json() == {"stored": 1, "duplicates": 0}
    assert first.extensions["b12cds"].store.count() == 2


def test_concurrent_feedback_from_two_instances_is_stored_exactly_once(pg_config, make_app):
    apps = [make_app(pg_config), make_app(pg_config)]
    cards, statuses = post_overlapping_feedback(apps, THREADS, per_thread=15, item=item)
    assert set(statuses) == {200}
    rows = apps[1].extensions["b12cds"].store.rows("b12-status")
    assert sorted(row["card_uuid"] for row in rows) == sorted(cards)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_instances_starting_together_on_an_empty_database_all_start(backend, database_url, tmp_path, engines):
    """Regression: create_all checked, then created, and instances racing between the two failed to start."""
    url = database_url if backend == "postgresql" else f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            store = FeedbackStore.from_url(url)
            engines.append(store.engine)
            SqlReplayCache(store.engine)
        except BaseException as exc:  # collected and shown below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- readiness ---

def test_readiness_follows_the_database_and_recovers_without_a_restart(app_config, tmp_path, make_app):
    with running_postgres(start_or_give_up()) as server:
        client = make_app({**app_config, "FEEDBACK_DATABASE_URL": server.url()}).test_client()
        assert client.get("/readyz").status_code == 200
        server.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.get_json()["issue"][0]["code"] == "transient"
        assert client.get("/healthz").status_code == 200  # alive: only not ready
        server.start()
        assert client.get("/readyz").status_code == 200  # stale pooled connections are replaced


# --- the JWT replay cache ---

def token(path: str, jti: str | None = None) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": PUBLIC + path, "exp": now + 300, "iat": now, "jti": jti or str(uuid.uuid4())}
    return jwt.encode(claims, KEY, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


@pytest.fixture
def secured_config(pg_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    return {**pg_config, "AUTH_REQUIRED": True, "PUBLIC_BASE_URL": PUBLIC, "REPLAY_CACHE": "database",
            "TRUSTED_ISSUERS": {ISS: {"jwks_file": str(jwks_file)}}}


def test_a_token_replayed_to_another_instance_is_refused(secured_config, make_app):
    first, second = make_app(secured_config).test_client(), make_app(secured_config).test_client()
    once = {"Authorization": f"Bearer {token('/cds-services')}"}
    assert first.get("/cds-services", headers=once).status_code == 200
    assert second.get("/cds-services", headers=once).status_code == 401
    fresh = {"Authorization": f"Bearer {token('/cds-services')}"}
    assert second.get("/cds-services", headers=fresh).status_code == 200


def test_one_token_sent_to_two_instances_at_once_is_accepted_once(secured_config, make_app):
    clients = [make_app(secured_config).test_client(), make_app(secured_config).test_client()]
    headers = {"Authorization": f"Bearer {token('/cds-services')}"}
    barrier = threading.Barrier(THREADS)

    def call(index: int) -> int:
        barrier.wait()
        return clients[index % 2].get("/cds-services", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        statuses = list(pool.map(call, range(THREADS)))
    assert sorted(statuses) == [200] + [401] * (THREADS - 1)


def test_concurrent_first_uses_of_a_jti_let_exactly_one_through(database_url, make_engine):
    caches = [SqlReplayCache(make_engine(database_url), clock=lambda: 1000.0) for _ in range(2)]  # two processes
    for jti in (f"jti-{n}" for n in range(5)):
        barrier = threading.Barrier(THREADS)

        def use(index: int, jti: str = jti, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return caches[index % 2].seen(jti, ISS, expires_at=1300.0)

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            results = list(pool.map(use, range(THREADS)))
        assert results.count(False) == 1, jti


def test_an_expired_entry_is_replaced_and_the_table_is_purged(database_url, monkeypatch, make_engine):
    now = [1000.0]
    engine = make_engine(database_url)
    cache = SqlReplayCache(engine, clock=lambda: now[0])
    assert cache.seen("jti-1", ISS, expires_at=1300.0) is False
    assert cache.seen("jti-1", ISS, expires_at=1300.0) is True
    now[0] = 1400.0
    assert cache.seen("jti-1", ISS, expires_at=1700.0) is False  # the old token cannot verify anymore
    assert cache.seen("jti-1", ISS, expires_at=1700.0) is True
    monkeypatch.setattr(sql_replay, "PURGE_EVERY", 1)
    cache.seen("jti-2", ISS, expires_at=1500.0)
    now[0] = 1600.0
    cache.seen("jti-3", ISS, expires_at=1900.0)  # purges jti-2 (expired at 1500) on the way
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM jwt_replay").scalar_one() == 2
