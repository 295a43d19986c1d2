"""The ``b12-cds`` console command."""

from __future__ import annotations

import os
from typing import Any

import click

from .errors import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """b12-cds: CDS Hooks 2.0 service for vitamin B12 deficiency."""


@main.command()
@click.option("--host", default=lambda: os.environ.get("CDS_HOST", "127.0.0.1"), show_default="127.0.0.1",
              help="Address to listen on (CDS_HOST).")
@click.option("--port", type=int, default=lambda: int(os.environ.get("CDS_PORT", "8080")),
              show_default="8080", help="Port to listen on (CDS_PORT).")
@click.option("--workers", type=int, default=lambda: int(os.environ.get("CDS_WORKERS", "2")),
              show_default="2", help="gunicorn worker processes (CDS_WORKERS).")
@click.option("--threads", type=int, default=lambda: int(os.environ.get("CDS_THREADS", "8")),
              show_default="8", help="Threads per worker (CDS_THREADS).")
@click.option("--timeout", type=int, default=lambda: int(os.environ.get("CDS_WORKER_TIMEOUT", "30")),
              show_default="30", help="Seconds before a silent worker is restarted (CDS_WORKER_TIMEOUT).")
@click.option("--dev", is_flag=True, help="Flask's development server with reload and debug pages.")
def serve(host: str, port: int, workers: int, threads: int, timeout: int, dev: bool) -> None:
    """Run the service (gunicorn; --dev for the Flask development server)."""
    from . import create_app

    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=False, threaded=True)
        return
    _Gunicorn(app, {"bind": f"{host}:{port}", "workers": workers, "threads": threads, "timeout": timeout,
                    "worker_class": "gthread", "accesslog": "-", "errorlog": "-",
                    # never log query strings or tokens: method, path, status, size, duration only
                    "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
                    # connections opened before the fork must not be shared by the workers
                    "post_fork": lambda _server, _worker: app.extensions["b12cds"].store.engine.dispose(
                        close=False)}).run()


class _Gunicorn:
    """Run an app object under gunicorn without a module path (the app is built by our factory)."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        from gunicorn.app.base import BaseApplication

        class Application(BaseApplication):
            def load_config(self) -> None:
                for key, value in options.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return app

        self._application = Application()

    def run(self) -> None:
        self._application.run()
