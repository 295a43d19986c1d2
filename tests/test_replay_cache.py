"""The database replay cache: a jti accepted by one process is refused by every other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine

from cds_service.security.sql_replay import SqlReplayCache

ISS = "https://ehr.example.org"


def test_a_jti_is_accepted_once_across_processes_sharing_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    worker_a = SqlReplayCache(create_engine(url), clock=lambda: 1000.0)
    worker_b = SqlReplayCache(create_engine(url), clock=lambda: 1000.0)  # another worker, own engine
    assert worker_a.seen("jti-1", ISS, expires_at=1300.0) is False
    assert worker_b.seen("jti-1", ISS, expires_at=1300.0) is True
    assert worker_b.seen("jti-1", "https://other-issuer.example.org", expires_at=1300.0) is False


def test_an_expired_entry_is_forgotten(tmp_path):
    now = [1000.0]
    cache = SqlReplayCache(create_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}"), clock=lambda: now[0])
    assert cache.seen("jti-1", ISS, expires_at=1300.0) is False
    now[0] = 1400.0
    assert cache.seen("jti-1", ISS, expires_at=1700.0) is False  # the old token could not verify anymore
    assert cache.seen("jti-1", ISS, expires_at=1700.0) is True


def test_concurrent_first_uses_let_exactly_one_through(tmp_path):
    cache = SqlReplayCache(create_engine(f"sqlite:///{tmp_path / 'c.sqlite3'}", connect_args={"timeout": 30}),
                           clock=lambda: 1000.0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: cache.seen("same-jti", ISS, expires_at=1300.0), range(16)))
    assert results.count(False) == 1


def test_no_claim_value_is_stored_in_clear(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'k.sqlite3'}")
    SqlReplayCache(engine, clock=lambda: 1000.0).seen("visible-jti", ISS, expires_at=1300.0)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT token_key FROM jwt_replay").fetchall()
    assert "visible-jti" not in rows[0][0] and len(rows[0][0]) == 64
