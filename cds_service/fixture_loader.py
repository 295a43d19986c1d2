"""Load the fixture patients into a FHIR server: one transaction Bundle per scenario, dates moved to the load day.

Each ``fhir_fixtures/<scenario>/chart.json`` is a transaction of PUTs with fixed ids, so loading
twice creates nothing new. Its dates are written as of the scenario's ``evaluatedAt`` and are
shifted by ``dateshift`` so the clinical story holds on the day it is loaded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

from .data.fhir_client import bundle_resources
from .dateshift import days_between, shift_dates
from .ehr_http import EhrError, fhir_headers, outcome_text, send

TRANSACTION_TIMEOUT = (5.0, 120.0)  # seconds: a cold HAPI FHIR takes its time over the first transactions
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Scenario:
    """One fixture directory: its chart and the day its dates are written for."""

    name: str
    directory: Path
    evaluated_at: date | None  # None: no scenario.json, so the dates cannot be moved

    def shift_to(self, as_of: date | None) -> int:
        """Return the days that move this chart's dates onto ``as_of`` (0 to keep them)."""
        return days_between(self.evaluated_at, as_of) if as_of and self.evaluated_at else 0


@dataclass(frozen=True)
class LoadResult:
    """What the server did with one scenario's transaction."""

    scenario: str
    patient: str | None = None
    resources: int = 0
    created: int = 0
    updated: int = 0
    error: str | None = None


def default_fixtures_dir() -> Path:
    """Find the fixtures: packaged copy first (wheel install), then the checkout's fhir_fixtures/."""
    packaged = Path(__file__).resolve().parent / "_fixtures"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "fhir_fixtures"


def find_scenarios(directory: Path, names: Iterable[str] = ()) -> list[Scenario]:
    """Return the scenarios in ``directory`` (all, or the ones named), in name order."""
    directory = Path(directory)
    charts = sorted(directory.glob("*/chart.json")) if directory.is_dir() else []
    found = {chart.parent.name: chart.parent for chart in charts}
    if not found:
        raise EhrError(f"{directory}: no fixture directories (<scenario>/chart.json) found")
    wanted = list(dict.fromkeys(names)) or list(found)
    unknown = [name for name in wanted if name not in found]
    if unknown:
        raise EhrError(f"no such scenario in {directory}: {', '.join(unknown)}")
    return [Scenario(name, found[name], _evaluated_at(found[name])) for name in wanted]


def load_all(session: requests.Session, base: str, scenarios: Iterable[Scenario], *, token: str | None,
             as_of: date | None) -> Iterator[LoadResult]:
    """Load each scenario in turn; a refused one is reported and the others still load.

    :raises EhrError: the server cannot be reached at all (no point trying the others).
    """
    for scenario in scenarios:
        try:
            bundle = shift_dates(_read_bundle(scenario.directory / "chart.json"), scenario.shift_to(as_of))
        except EhrError as exc:
            yield LoadResult(scenario.name, error=str(exc))
            continue
        yield load_bundle(session, base, bundle, token=token, scenario=scenario.name)


def load_bundle(session: requests.Session, base: str, bundle: dict[str, Any], *, token: str | None,
                scenario: str) -> LoadResult:
    """POST one transaction Bundle; count created (201) and updated (200) entries of the response."""
    patients = [f"Patient/{r.get('id')}" for r in bundle_resources(bundle) if r["resourceType"] == "Patient"]
    patient = patients[0] if patients else None
    response = send(session, "POST", base.rstrip("/"), what="the FHIR server", data=json.dumps(bundle),
                    headers=fhir_headers(token), timeout=TRANSACTION_TIMEOUT)
    if response.status_code != 200:
        return LoadResult(scenario, patient, error=f"HTTP {response.status_code}: {outcome_text(response)}")
    try:
        statuses = [str((e.get("response") or {}).get("status", "")) for e in response.json().get("entry") or []]
    except (ValueError, AttributeError):
        return LoadResult(scenario, patient, error="the server's answer is not a transaction-response Bundle")
    refused = [s for s in statuses if not s.startswith(("200", "201"))]
    if refused:
        return LoadResult(scenario, patient, error=f"{len(refused)} entries not stored: {', '.join(refused)}")
    return LoadResult(scenario, patient, resources=len(statuses), created=sum(s.startswith("201") for s in statuses),
                      updated=sum(s.startswith("200") for s in statuses))


def wait_for_server(session: requests.Session, base: str, seconds: float, *, token: str | None) -> None:
    """Poll ``GET {base}/metadata`` until it answers 200; raise EhrError when ``seconds`` run out."""
    url = f"{base.rstrip('/')}/metadata"
    deadline = time.monotonic() + seconds
    last = "no answer"
    while True:
        left = deadline - time.monotonic()
        try:
            response = send(session, "GET", url, what="the FHIR server", headers=fhir_headers(token),
                            timeout=max(0.1, min(10.0, left)))
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except EhrError as exc:
            last = str(exc)
        if time.monotonic() + POLL_SECONDS > deadline:
            raise EhrError(f"the FHIR server at {base} was not up after {seconds:g} s "
                           f"(GET /metadata: {last})")
        time.sleep(POLL_SECONDS)


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EhrError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        raise EhrError(f"{path}: expected a FHIR transaction Bundle")
    return bundle


def _evaluated_at(directory: Path) -> date | None:
    path = directory / "scenario.json"
    if not path.is_file():
        return None
    try:
        return date.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["evaluatedAt"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EhrError(f"{path}: no readable evaluatedAt ({exc})") from exc
