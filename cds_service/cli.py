"""The ``b12-cds`` console command."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """b12-cds: CDS Hooks 2.0 service for vitamin B12 deficiency."""


#: ``--worker-class`` to gunicorn's: gthread is gunicorn's, accepting only while a thread is free (workers.py).
WORKER_CLASSES = {"gthread": "cds_service.workers.FreeThreadWorker", "sync": "sync"}


@main.command()
@click.option("--host", default=lambda: os.environ.get("CDS_HOST", "127.0.0.1"), show_default="127.0.0.1",
              help="Address to listen on (CDS_HOST).")
@click.option("--port", type=int, default=lambda: int(os.environ.get("CDS_PORT", "8080")),
              show_default="8080", help="Port to listen on (CDS_PORT).")
@click.option("--workers", type=int, default=lambda: int(os.environ.get("CDS_WORKERS", "2")),
              show_default="2", help="gunicorn worker processes (CDS_WORKERS).")
@click.option("--threads", type=int, default=lambda: int(os.environ.get("CDS_THREADS", "8")),
              show_default="8", help="Threads per worker (CDS_THREADS).")
@click.option("--worker-class", type=click.Choice(list(WORKER_CLASSES)),
              default=lambda: os.environ.get("CDS_WORKER_CLASS", "gthread"), show_default="gthread",
              help="gunicorn worker class (CDS_WORKER_CLASS): gthread (threads; a worker takes new connections "
                   "only while one of its threads is free) or sync (one call per worker at a time).")
@click.option("--worker-connections", type=int,
              default=lambda: int(os.environ.get("CDS_WORKER_CONNECTIONS", "1000")), show_default="1000",
              help="Open client connections one gthread worker holds at most (CDS_WORKER_CONNECTIONS).")
@click.option("--timeout", type=int, default=lambda: int(os.environ.get("CDS_WORKER_TIMEOUT", "30")),
              show_default="30", help="Seconds before a silent worker is restarted (CDS_WORKER_TIMEOUT).")
@click.option("--dev", is_flag=True, help="Flask's development server with reload and debug pages.")
def serve(host: str, port: int, workers: int, threads: int, worker_class: str, worker_connections: int,
          timeout: int, dev: bool) -> None:
    """Run the service (gunicorn; --dev for the Flask development server)."""
    import atexit
    import shutil
    import tempfile

    from . import create_app

    if not dev:
        # Each worker counts in its own memory: in prometheus_client's multiprocess mode they write their
        # counts to files in one directory, which /metrics adds up. prometheus_client picks the mode when
        # first imported (by create_app, before the fork), so the directory is set up first.
        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        metrics_dir = Path(given or tempfile.mkdtemp(prefix="b12cds-metrics-"))
        try:
            _prepare_metrics_dir(str(metrics_dir))
        except OSError as exc:
            raise click.ClickException(f"PROMETHEUS_MULTIPROC_DIR {metrics_dir}: {exc}") from exc
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        if not given:  # ours: removed when this process exits; the workers inherit the hook, hence the pid
            master = os.getpid()
            atexit.register(lambda: shutil.rmtree(metrics_dir, ignore_errors=True) if os.getpid() == master else None)
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # one process: it counts in memory
    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if dev:
        app.run(host=host, port=port, debug=True, use_reloader=False, threaded=True)
        return
    from prometheus_client import multiprocess

    from .access_log import AccessLogger
    from .fixture_loader import default_fixtures_dir
    from .warmup import start_threads, warm_up

    warm_up(app.extensions["b12cds"], default_fixtures_dir())  # in the master: the workers inherit it warm

    options: dict[str, Any] = {
        "bind": f"{host}:{port}", "workers": workers, "threads": threads, "timeout": timeout,
        "worker_class": WORKER_CLASSES[worker_class], "worker_connections": worker_connections,
        "accesslog": "-", "errorlog": "-",
        # never log query strings or tokens: method, path, status, size, duration only
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "logger_class": AccessLogger,  # the same lines, built from the six atoms the format uses (access_log.py)
        # connections opened before the fork must not be shared by the workers; then the worker warms its copy
        "post_fork": lambda _server, _worker: _worker_ready(app, default_fixtures_dir()),
        "post_worker_init": start_threads,  # the gthread pool's threads started before the first call
        # a dead worker's counts stay (counters only add up); only its live-gauge files must go
        "child_exit": lambda _server, worker: multiprocess.mark_process_dead(worker.pid),
    }
    _Gunicorn(app, options).run()


@main.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--hook", required=True, type=click.Choice(["patient-view", "order-select", "order-sign"]),
              help="The hook to simulate.")
@click.option("--service", "service_id", help="Service id, when several services answer the hook.")
@click.option("--patient", "patient_id", help="Patient id, when the bundle holds several patients.")
@click.option("--draft-orders", "order_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="order-select/order-sign: a draft order, a Bundle of them, or a hook request whose "
                   "context.draftOrders to use, e.g. a fixture's <service>.request.json (repeatable; "
                   "default: the order resources with status draft in BUNDLE).")
@click.option("--select", "selections", multiple=True,
              help="order-select: a selected draft order, e.g. MedicationRequest/1 (default: all drafts).")
@click.option("--date", "on_date", type=click.DateTime(["%Y-%m-%d"]), help="Evaluate as of this date.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw CDS Hooks response.")
def evaluate(bundle: Path, hook: str, service_id: str | None, patient_id: str | None,
             order_files: tuple[Path, ...], selections: tuple[str, ...], on_date: datetime | None,
             as_json: bool) -> None:
    """Show the cards a hook would give for a patient in a FHIR BUNDLE file, without an EHR."""
    from . import create_app
    from .offline import build_request, bundle_resources, split_drafts
    from .render import render_response

    chart, drafts = split_drafts(bundle_resources(_read_json(bundle)))
    drafts = _draft_orders(hook, bundle, drafts, order_files)
    when = (on_date.date() if on_date else date.today())
    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://", "LOG_LEVEL": "ERROR",
                      "CLOCK": lambda: datetime(when.year, when.month, when.day, 12, tzinfo=UTC)})
    service = _service_for(app.extensions["b12cds"].registry, hook, service_id)
    patient = patient_id or _only_patient(chart)
    request = build_request(service, chart, patient_id=patient, draft_orders=drafts, selections=selections)
    response = app.test_client().post(f"/cds-services/{service.id}", json=request)
    body = response.get_json()
    if response.status_code != 200:
        issues = "; ".join(issue.get("diagnostics", "") for issue in body.get("issue", []))
        raise click.ClickException(f"HTTP {response.status_code}: {issues}")
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        heading = f"{service.id} ({hook}) for Patient/{patient}, as of {when.isoformat()}"
        click.echo(render_response(body, heading=heading), nl=False)


def _draft_orders(hook: str, bundle: Path, in_bundle: list[dict[str, Any]],
                  order_files: tuple[Path, ...]) -> list[dict[str, Any]]:
    """Return the draft orders for an order hook: from --draft-orders, else those in the bundle; say if none."""
    from .hook_calls import ORDER_FILE_KINDS, ORDER_HOOKS, OrderFileError, read_orders

    if hook not in ORDER_HOOKS:
        if order_files:
            raise click.UsageError(f"--draft-orders goes with order-select or order-sign, not {hook}")
        return []
    try:
        drafts = list(read_orders(order_files)) if order_files else in_bundle
    except OrderFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if not drafts:
        where = ", ".join(map(str, order_files)) if order_files else f"{bundle} (no order resource with status draft)"
        raise click.ClickException(f"{hook}: no draft orders found in {where}; pass --draft-orders FILE "
                                   f"({ORDER_FILE_KINDS})")
    return drafts


def _worker_ready(app: Any, fixtures: Path) -> None:
    """In a new worker, before it serves: its own database connection, then the warm-up again (``warm_worker``)."""
    from .warmup import warm_worker

    _worker_database(app.extensions["b12cds"].store.engine)
    warm_worker(app, fixtures)


def _worker_database(engine: Any) -> None:
    """In a new worker: drop the master's connections (never shared across a fork) and open the worker's own,
    so its first call does not wait for it. A database that does not answer yet is left to the first call."""
    engine.dispose(close=False)
    with contextlib.suppress(Exception):  # /readyz reports the database; start-up goes on
        engine.connect().close()  # back to the worker's pool, open


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise click.ClickException(f"{path}: expected a FHIR Bundle")
    return data


def _service_for(registry: Any, hook: str, service_id: str | None) -> Any:
    if service_id:
        service = registry.get(service_id)
        if service.hook != hook:
            raise click.ClickException(f"service {service_id!r} answers {service.hook}, not {hook}")
        return service
    candidates = [service for service in registry if service.hook == hook]
    if len(candidates) != 1:
        names = ", ".join(service.id for service in candidates) or "none"
        raise click.ClickException(f"{len(candidates)} services answer {hook} ({names}); choose one with --service")
    return candidates[0]


def _only_patient(resources: list[dict[str, Any]]) -> str:
    ids = [r.get("id") for r in resources if r["resourceType"] == "Patient"]
    if len(ids) != 1:
        raise click.ClickException(f"the bundle holds {len(ids)} patients; choose one with --patient")
    return str(ids[0])


#: The files prometheus_client writes in PROMETHEUS_MULTIPROC_DIR (and nothing else there is ours to delete).
MULTIPROCESS_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def _prepare_metrics_dir(path: str) -> None:
    """Create the workers' metrics directory if needed and remove an earlier run's files from it.

    Kept out of ``metrics``: importing prometheus_client before the directory is set would fix its mode.

    :raises OSError: the directory cannot be created or written.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory} is not writable")
    for pattern in MULTIPROCESS_FILES:
        for stale in directory.glob(pattern):
            stale.unlink()  # an earlier run's counts must not be added to this run's


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


from .dev_commands import fire, load_fixtures  # noqa: E402  (last, so the edits above stay independent of it)

main.add_command(load_fixtures)
main.add_command(fire)

from .governance_commands import gallery, report  # noqa: E402

main.add_command(report)
main.add_command(gallery)
