"""Run the real b12-cds app over HTTP on loopback (a werkzeug server in a thread), for the mini-EHR tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from flask import Flask, request
from werkzeug.serving import make_server

from cds_service import cli, create_app


@dataclass
class LiveService:
    """A running service: its URL, the app, and what it was sent and fetched."""

    url: str
    app: Flask
    hook_requests: list[dict[str, Any]] = field(default_factory=list)  # bodies of POST /cds-services/{id}
    fhir_calls: list[str] = field(default_factory=list)  # URLs the service fetched from a FHIR server

    def forget(self) -> None:
        """Start a fresh record of hook requests and FHIR calls."""
        self.hook_requests.clear()
        self.fhir_calls.clear()


def service_config(workdir: Path, now: datetime, fhir_bases: list[str], **overrides: Any) -> dict[str, Any]:
    """Settings like the app_config fixture: no auth, a private SQLite file, a fixed clock."""
    return {"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": f"sqlite:///{workdir / 'feedback.sqlite3'}",
            "CLOCK": lambda: now, "FHIR_SERVER_ALLOWLIST": fhir_bases, "LOG_LEVEL": "ERROR", **overrides}


@contextmanager
def running_service(config: dict[str, Any]) -> Iterator[LiveService]:
    """Serve the app on 127.0.0.1 (a free port) until the block ends; record its traffic."""
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    live = LiveService(f"http://127.0.0.1:{server.server_port}", app)

    @app.before_request
    def _record() -> None:
        if request.method == "POST" and request.path.startswith("/cds-services/"):
            live.hook_requests.append(request.get_json(silent=True))

    session = app.extensions["b12cds"].fetch_settings.session
    session.hooks["response"].append(lambda response, *args, **kwargs: live.fhir_calls.append(response.request.url))
    thread = threading.Thread(target=server.serve_forever, name="b12-cds-live", daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def invoke(*args: str) -> Result:
    """Run ``b12-cds ARGS`` in-process and return click's result (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli.main, [str(a) for a in args])
