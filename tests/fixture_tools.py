"""Turn the clinical scenarios in fhir_fixtures/ into hook requests, and regenerate their goldens.

A scenario's ``chart.json`` is a transaction Bundle. The request's prefetch is the service's own
prefetch templates answered from that chart in memory (``cds_service.offline``), the way a FHIR
server would answer them.

A call marked ``"verbatimRequest": true`` instead keeps its ``<service>.request.json`` as a real EHR
sent it (captured from the official CDS Hooks sandbox, dates shifted back to ``evaluatedAt``): it is
never rewritten here, and ``test_fixtures.py`` checks that it still holds the scenario's chart,
draft orders and selections.

Regenerate after an intended change to cards, then review the diff::

    .venv/bin/python tests/fixture_tools.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from helpers import FIXTURES, counting_uuids, load_json, service_definition


@dataclass(frozen=True)
class FixtureCall:
    """One hook call of one scenario."""

    scenario: str
    directory: Path
    evaluated_at: datetime
    call: dict[str, Any]

    @property
    def service(self) -> str:
        return self.call["service"]

    @property
    def request_path(self) -> Path:
        return self.directory / f"{self.service}.request.json"

    @property
    def response_path(self) -> Path:
        return self.directory / f"{self.service}.response.json"

    @property
    def verbatim(self) -> bool:
        """True when the request file is a captured request, kept as it was sent."""
        return bool(self.call.get("verbatimRequest"))

    @property
    def test_id(self) -> str:
        return f"{self.scenario}-{self.service}"


def iter_fixture_calls() -> Iterator[FixtureCall]:
    """Yield every call of every scenario, in name order."""
    for directory in sorted(p for p in FIXTURES.iterdir() if (p / "scenario.json").exists()):
        scenario = load_json(directory / "scenario.json")
        when = datetime.fromisoformat(scenario["evaluatedAt"]).replace(hour=9, tzinfo=UTC)
        for call in scenario["calls"]:
            yield FixtureCall(directory.name, directory, when, call)


def chart_resources(directory: Path) -> list[dict[str, Any]]:
    """Return the resources of a scenario's transaction Bundle."""
    return [entry["resource"] for entry in load_json(directory / "chart.json")["entry"]]


def patient_id(resources: list[dict[str, Any]]) -> str:
    [patient] = [r for r in resources if r["resourceType"] == "Patient"]
    return patient["id"]


def build_request(fixture: FixtureCall) -> dict[str, Any]:
    """Build the hook request with prefetch for one fixture call (a verbatim one is read as captured)."""
    if fixture.verbatim:
        return load_json(fixture.request_path)
    from cds_service.offline import build_request as offline_request
    resources = chart_resources(fixture.directory)
    service = service_definition(fixture.service)
    drafts = [entry["resource"] for entry in fixture.call.get("draftOrders", {}).get("entry", [])]
    request = offline_request(service, resources, patient_id=patient_id(resources), draft_orders=drafts,
                              selections=fixture.call.get("selections", ()), instance_seed=fixture.test_id)
    if "draftOrders" in fixture.call:
        request["context"]["draftOrders"] = fixture.call["draftOrders"]  # exactly as the scenario wrote it
    return request


def fixture_app(evaluated_at: datetime):
    """An app whose clock is the scenario's evaluation time and whose uuids are counted."""
    from cds_service import create_app

    return create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://",
                       "CLOCK": lambda: evaluated_at, "UUID_FACTORY": counting_uuids()})


def regenerate() -> None:
    """Write every request and expected response file."""
    for fixture in iter_fixture_calls():
        request = build_request(fixture)
        if not fixture.verbatim:
            fixture.request_path.write_text(json.dumps(request, indent=2, ensure_ascii=False) + "\n")
        response = fixture_app(fixture.evaluated_at).test_client().post(
            f"/cds-services/{fixture.service}", json=request)
        if response.status_code != 200:
            raise SystemExit(f"{fixture.test_id}: HTTP {response.status_code} {response.get_data(as_text=True)}")
        # Keys sorted: the service no longer sorts them, and stable goldens diff only where cards change.
        golden = json.dumps(response.get_json(), indent=2, ensure_ascii=False, sort_keys=True)
        fixture.response_path.write_text(golden + "\n")
        print(f"{fixture.test_id}: {[c['indicator'] for c in response.get_json()['cards']]}")


if __name__ == "__main__":
    regenerate()
