"""Shared fixtures: an app with a fixed clock and predictable uuids, and its client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import FHIR_BASE, FIXED_NOW, counting_uuids
from postgres_server import PostgresServer, admin, running_postgres, start_or_give_up
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from cds_service import create_app


@pytest.fixture(autouse=True)
def _no_cds_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's CDS_* variables out of the tests."""
    for name in list(os.environ):
        if name.startswith("CDS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def app_config(tmp_path: Path) -> dict[str, Any]:
    """Settings for a test app: no auth, a private SQLite file, a fixed clock, counted uuids."""
    return {
        "AUTH_REQUIRED": False,
        "FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "CLOCK": lambda: FIXED_NOW,
        "UUID_FACTORY": counting_uuids(),
        "FHIR_DEADLINE": 2.0,
        "FHIR_REQUEST_TIMEOUT": 1.0,
        "FHIR_SERVER_ALLOWLIST": [FHIR_BASE],
    }


@pytest.fixture
def app(app_config: dict[str, Any]):
    """A b12-cds app configured for tests."""
    return create_app(app_config)


@pytest.fixture
def client(app) -> Iterator[Any]:
    """A Flask test client."""
    with app.test_client() as test_client:
        yield test_client



@pytest.fixture(scope="session", params=["sekmet", "hapi"])
def fhir_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real FHIR R4 server on loopback for the whole session, sekmet then HAPI; yields its base URL."""
    if request.param == "hapi":
        with hapi_server_or_skip(tmp_path_factory.mktemp("hapi")) as base:
            yield base
        return
    from fhir_server import running_fhir_server

    with running_fhir_server(tmp_path_factory.mktemp("sekmet")) as base:
        yield base


@contextmanager
def hapi_server_or_skip(workdir: Path) -> Iterator[str]:
    """Our HAPI FHIR JPA server; without a JDK or Maven the tests skip, or fail under CI (CI=true)."""
    from hapi_fhir import missing_tools, running_hapi_server

    reason = missing_tools()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"HAPI FHIR server tests cannot run under CI: {reason}")
    if reason:
        pytest.skip(reason)
    with running_hapi_server(workdir) as base:
        yield base


@pytest.fixture(scope="session")
def loaded_fhir_server(fhir_server: str) -> str:
    """The session's FHIR server holding every fixture patient, dates as written (tests fix the clock)."""
    from fhir_server import BEARER
    from live_service import invoke

    result = invoke("load-fixtures", "--fhir-base", fhir_server, "--token", BEARER, "--keep-dates")
    assert result.exit_code == 0, result.output
    return fhir_server


# PostgreSQL (tests/postgres_server.py): one server for the whole session, shared by every module that
# uses these fixtures; each test gets a database of its own.


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres(start_or_give_up()) as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server; dropped afterwards (open connections too)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin(postgres) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield postgres.url(name)
    with admin(postgres) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def pg_config(app_config: dict[str, Any], database_url: str) -> dict[str, Any]:
    return {**app_config, "FEEDBACK_DATABASE_URL": database_url}


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines to close at the end of the test (psycopg warns about connections left open)."""
    created: list[Engine] = []
    yield created
    for engine in created:
        engine.dispose()


@pytest.fixture
def make_app(engines: list[Engine]):
    """create_app, with the app's database engine closed after the test.

    The shown-cards writer thread is waited for first: a connection it holds in a transaction when the engine is
    disposed is not closed, and psycopg's warning about it surfaced in a later test (a flaky failure).
    """
    apps = []

    def make(config: dict[str, Any]):
        app = create_app(config)
        apps.append(app)
        engines.append(app.extensions["b12cds"].store.engine)
        return app
    yield make
    for app in apps:  # before ``engines`` disposes them (it was set up first, so it is torn down last)
        shown = app.extensions["b12cds"].shown
        if shown is not None:
            shown.flush(timeout=10)


@pytest.fixture
def make_engine(engines: list[Engine]):
    def make(url: str) -> Engine:
        engines.append(create_engine(url))
        return engines[-1]
    return make
