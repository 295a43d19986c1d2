"""Turn the clinical scenarios in fhir_fixtures/ into hook requests, and regenerate their goldens.

A scenario's ``chart.json`` is a transaction Bundle. The request's prefetch is built by running the
service's own prefetch templates against that chart in memory (patient, token ``code`` lists,
``_sort=-date``), the way a FHIR server would answer them; referenced Medications are added as
``include`` entries, as an EHR using ``_include`` would.

Regenerate after an intended change to cards, then review the diff::

    .venv/bin/python tests/fixture_tools.py
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import FIXTURES, ROOT, counting_uuids, load_json  # noqa: E402

USER = "Practitioner/fixture-clinician"


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
    """Build the hook request with prefetch for one fixture call."""
    resources = chart_resources(fixture.directory)
    pid = patient_id(resources)
    service = load_json(ROOT / "hooks" / f"{fixture.service}.json")
    context: dict[str, Any] = {"userId": USER, "patientId": pid}
    if "draftOrders" in fixture.call:
        context["draftOrders"] = fixture.call["draftOrders"]
    if "selections" in fixture.call:
        context["selections"] = fixture.call["selections"]
    prefetch = {key: answer(template.replace("{{context.patientId}}", pid), resources)
                for key, template in service["prefetch"].items()}
    instance = uuid.uuid5(uuid.NAMESPACE_URL, f"b12-cds-fixture:{fixture.test_id}")
    return {"hook": fixture.call["hook"], "hookInstance": str(instance), "context": context, "prefetch": prefetch}


def answer(query: str, resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Answer one filled prefetch query from the chart, as a FHIR server would."""
    if "?" not in query:
        kind, rid = query.split("/")
        return next((r for r in resources if r["resourceType"] == kind and r.get("id") == rid), None)
    kind, params = query.split("?", 1)
    matches = [r for r in resources if r["resourceType"] == kind]
    sort_newest_first = False
    for name, value in parse_qsl(params):
        if name == "patient":
            matches = [r for r in matches if (r.get("subject") or {}).get("reference") == f"Patient/{value}"]
        elif name == "code":
            wanted = set(value.split(","))
            matches = [r for r in matches if wanted & _tokens(r.get("code"))]
        elif name == "_sort" and value == "-date":
            sort_newest_first = True
        elif name != "_count":
            raise ValueError(f"fixture prefetch cannot answer parameter {name!r} in {query}")
    if sort_newest_first:
        matches.sort(key=_observation_date, reverse=True)
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, r['resourceType'] + '/' + r['id'])}",
                "resource": r, "search": {"mode": "match"}} for r in matches]
    entries += [{"resource": m, "search": {"mode": "include"}} for m in _referenced_medications(matches, resources)]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}


def _tokens(concept: dict[str, Any] | None) -> set[str]:
    codings = (concept or {}).get("coding") or []
    return {f"{c.get('system')}|{c.get('code')}" for c in codings} | {str(c.get("code")) for c in codings}


def _observation_date(resource: dict[str, Any]) -> str:
    return (resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
            or resource.get("issued") or "")


def _referenced_medications(matches: list[dict[str, Any]], resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = {(r.get("medicationReference") or {}).get("reference") for r in matches}
    return [r for r in resources if r["resourceType"] == "Medication" and f"Medication/{r['id']}" in wanted]


def fixture_app(evaluated_at: datetime):
    """An app whose clock is the scenario's evaluation time and whose uuids are counted."""
    from cds_service import create_app

    return create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://",
                       "CLOCK": lambda: evaluated_at, "UUID_FACTORY": counting_uuids()})


def regenerate() -> None:
    """Write every request and expected response file."""
    for fixture in iter_fixture_calls():
        request = build_request(fixture)
        fixture.request_path.write_text(json.dumps(request, indent=2, ensure_ascii=False) + "\n")
        response = fixture_app(fixture.evaluated_at).test_client().post(
            f"/cds-services/{fixture.service}", json=request)
        if response.status_code != 200:
            raise SystemExit(f"{fixture.test_id}: HTTP {response.status_code} {response.get_data(as_text=True)}")
        fixture.response_path.write_text(json.dumps(response.get_json(), indent=2, ensure_ascii=False) + "\n")
        print(f"{fixture.test_id}: {[c['indicator'] for c in response.get_json()['cards']]}")


if __name__ == "__main__":
    regenerate()
