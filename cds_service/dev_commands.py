"""Developer commands, "a minimal EHR": ``b12-cds load-fixtures`` and ``b12-cds fire``.

The work is done in ``fixture_loader``, ``dateshift`` and ``ehr``; they are imported inside the
commands, as in ``cli.py``, so that ``b12-cds --help`` stays quick.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import requests

    from .ehr import HookCall
    from .fixture_loader import LoadResult, Scenario

HOOKS = ("patient-view", "order-select", "order-sign")
DEFAULT_SERVICE_URL = "http://127.0.0.1:8080"
DEFAULT_USER = "Practitioner/example"


@click.command("load-fixtures")
@click.option("--fhir-base", required=True, help="FHIR R4 base URL, e.g. http://localhost:8081/fhir.")
@click.option("--token", envvar="B12CDS_FHIR_TOKEN", show_envvar=True,
              help="Bearer token for the FHIR server (better from the environment: not in ps or shell history).")
@click.option("--fixtures", "fixtures_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Fixture directory (default: the packaged fixtures, else the checkout's fhir_fixtures/).")
@click.option("--scenario", "names", multiple=True, help="Load only this scenario (repeatable; default: all).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]),
              help="Shift dates so the charts read as on this day (default: today).")
@click.option("--keep-dates", is_flag=True, help="Load the dates as written (as of each scenario's evaluatedAt).")
@click.option("--wait", "wait_seconds", type=float, default=0.0, show_default=True,
              help="Seconds to wait for GET {fhir-base}/metadata to answer 200 before loading.")
def load_fixtures(fhir_base: str, token: str | None, fixtures_dir: Path | None, names: tuple[str, ...],
                  as_of: datetime | None, keep_dates: bool, wait_seconds: float) -> None:
    """Load the fixture patients into a FHIR server (one transaction per scenario; twice changes nothing)."""
    from .ehr_http import EhrError, new_session
    from .fixture_loader import default_fixtures_dir, find_scenarios, load_all, wait_for_server

    if keep_dates and as_of:
        raise click.UsageError("--as-of and --keep-dates exclude each other")
    day = None if keep_dates else (as_of.date() if as_of else date.today())
    try:
        scenarios = find_scenarios(fixtures_dir or default_fixtures_dir(), names)
        with new_session() as session:
            if wait_seconds > 0:
                wait_for_server(session, fhir_base, wait_seconds, token=token)
            for line in _shift_lines(scenarios, day):
                click.echo(line)
            results = [_echo_result(r) for r in load_all(session, fhir_base, scenarios, token=token, as_of=day)]
    except EhrError as exc:
        raise click.ClickException(str(exc)) from exc
    _echo_total(results, fhir_base)


def _shift_lines(scenarios: list[Scenario], day: date | None) -> list[str]:
    """One line per distinct evaluatedAt: the shift applied to those charts."""
    from .dateshift import days_between, describe_shift

    lines = [describe_shift(days_between(when, day or when), when, day or when)
             for when in sorted({s.evaluated_at for s in scenarios if s.evaluated_at})]
    undated = [s.name for s in scenarios if s.evaluated_at is None]
    if undated:
        lines.append(f"dates as written (no scenario.json evaluatedAt): {', '.join(undated)}")
    return lines


def _echo_result(result: LoadResult) -> LoadResult:
    if result.error:
        click.echo(f"  {result.scenario}: REFUSED {result.error}", err=True)
    else:
        click.echo(f"  {result.scenario}: {result.patient}, {_count(result.resources, 'resource')} "
                   f"({result.created} created, {result.updated} updated)")
    return result


def _echo_total(results: list[LoadResult], fhir_base: str) -> None:
    loaded = [r for r in results if not r.error]
    click.echo(f"loaded {_count(len(loaded), 'scenario')} into {fhir_base}: "
               f"{_count(sum(r.resources for r in loaded), 'resource')} "
               f"({sum(r.created for r in loaded)} created, {sum(r.updated for r in loaded)} updated)")
    failed = [r.scenario for r in results if r.error]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} scenarios refused: {', '.join(failed)}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@click.command()
@click.option("--fhir-base", required=True, help="FHIR R4 base URL the EHR reads (prefetch) and sends as fhirServer.")
@click.option("--patient", "patient_id", required=True, help="Patient id (or Patient/<id>).")
@click.option("--hook", required=True, type=click.Choice(HOOKS), help="The hook to fire.")
@click.option("--order", "order_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="order-select/order-sign: a draft order, a Bundle of them, or a hook request whose "
                   "context.draftOrders to use, e.g. a fixture's <service>.request.json (repeatable).")
@click.option("--select", "selections", multiple=True,
              help="order-select: a selected draft order, e.g. MedicationRequest/x (default: all drafts).")
@click.option("--service-url", envvar="B12CDS_SERVICE_URL", show_envvar=True, default=DEFAULT_SERVICE_URL,
              show_default=True, help="The CDS service's base URL.")
@click.option("--service", "service_id", help="Service id, when several services answer the hook.")
@click.option("--prefetch/--no-prefetch", default=True, show_default=True,
              help="Run the service's prefetch templates like an EHR, or send none (the service fetches all).")
@click.option("--token", envvar="B12CDS_FHIR_TOKEN", show_envvar=True,
              help="Bearer token for the FHIR server; also sent to the service as fhirAuthorization "
                   "(better from the environment: not in ps or shell history).")
@click.option("--fhir-server-for-service", help="fhirServer sent to the service, when it reaches the FHIR server "
                                                "by another URL (docker-compose: http://hapi:8080/fhir).")
@click.option("--user", "user_id", default=DEFAULT_USER, show_default=True, help="context.userId.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw CDS Hooks response.")
def fire(fhir_base: str, patient_id: str, hook: str, order_files: tuple[Path, ...], selections: tuple[str, ...],
         service_url: str, service_id: str | None, prefetch: bool, token: str | None,
         fhir_server_for_service: str | None, user_id: str, as_json: bool) -> None:
    """Fire a hook at a running CDS service, as a minimal EHR would, and show the cards."""
    from . import ehr
    from .ehr_http import EhrError, new_session
    from .render import render_response

    patient = patient_id.removeprefix("Patient/")
    try:
        call = ehr.HookCall(hook=hook, patient_id=patient, user_id=user_id, draft_orders=_read_orders(order_files),
                            selections=selections)
        with new_session() as session:
            service = ehr.choose_service(ehr.discover(session, service_url), hook, service_id)
            ehr.check_patient(session, fhir_base, patient, token)
            values = _prefetch(session, fhir_base, service, call, token) if prefetch else None
            request = ehr.build_request(call, fhir_server=fhir_server_for_service or fhir_base, token=token,
                                        prefetch=values)
            body = ehr.call_service(session, service_url, service["id"], request)
    except EhrError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        heading = f"{service['id']} ({hook}) for Patient/{patient}, from {fhir_base}"
        click.echo(render_response(body, heading=heading), nl=False)


def _prefetch(session: requests.Session, fhir_base: str, service: dict[str, Any], call: HookCall,
              token: str | None) -> dict[str, Any]:
    """Run the prefetch templates; note on stderr what was left out for the service to fetch."""
    from .ehr import run_prefetch

    done = run_prefetch(session, fhir_base, service.get("prefetch") or {}, call.context(), token)
    for note in done.notes:
        click.echo(note, err=True)
    return done.values


def _read_orders(paths: Iterable[Path]) -> tuple[dict[str, Any], ...]:
    """Read each --order file (see ``hook_calls.orders_from``)."""
    from .ehr_http import EhrError
    from .hook_calls import OrderFileError, read_orders

    try:
        return read_orders(paths)
    except OrderFileError as exc:
        raise EhrError(str(exc)) from exc
