"""b12-cds load-fixtures against a real FHIR server (a private sekmet on loopback), and the fixtures'
fitness for HAPI FHIR (references resolvable inside each bundle, no purely numeric ids)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from fhir_server import BEARER, free_port, running_fhir_server
from helpers import FIXTURES, load_json
from live_service import invoke

from cds_service.fixture_loader import default_fixtures_dir, find_scenarios

pytestmark = pytest.mark.integration

CHARTS = sorted(FIXTURES.glob("*/chart.json"))
RESOURCE_TYPES = ("Patient", "Observation", "Condition", "MedicationStatement", "MedicationRequest", "Medication",
                  "Procedure", "Encounter")


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A FHIR server of this module's own, so created/updated counts start from nothing."""
    with running_fhir_server(tmp_path_factory.mktemp("loader")) as base:
        yield base


def counts(base: str) -> dict[str, int]:
    """Resources of each type on the server (searchset totals)."""
    headers = {"Authorization": f"Bearer {BEARER}"}
    return {kind: requests.get(f"{base}/{kind}?_summary=count", headers=headers, timeout=10).json()["total"]
            for kind in RESOURCE_TYPES}


def chart_entries(path: Path) -> list[dict[str, Any]]:
    return load_json(path)["entry"]


def references(node: Any) -> Iterator[str]:
    """Every Reference.reference in a resource, contained resources included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_loading_twice_duplicates_nothing(tmp_path):
    total = sum(len(chart_entries(path)) for path in CHARTS)
    with running_fhir_server(tmp_path) as empty:
        first = invoke("load-fixtures", "--fhir-base", empty, "--token", BEARER, "--keep-dates")
        assert first.exit_code == 0, first.output
        assert f"loaded {len(CHARTS)} scenarios into {empty}: {total} resources ({total} created, 0 updated)" \
            in first.stdout
        after_first = counts(empty)

        second = invoke("load-fixtures", "--fhir-base", empty, "--token", BEARER)  # shifted this time: same ids
        assert second.exit_code == 0, second.output
        assert f"{total} resources (0 created, {total} updated)" in second.stdout
        assert counts(empty) == after_first
    assert after_first["Patient"] == len(CHARTS)
    assert sum(after_first.values()) == total


def test_one_line_per_scenario_with_the_patient_and_the_counts(empty_server):
    # pure_motor_neuropathy is loaded by no other test of this module, deficient_with_neuropathy first here
    invoke("load-fixtures", "--fhir-base", empty_server, "--token", BEARER, "--scenario", "deficient_with_neuropathy")
    result = invoke("load-fixtures", "--fhir-base", empty_server, "--token", BEARER, "--keep-dates",
                    "--scenario", "deficient_with_neuropathy", "--scenario", "pure_motor_neuropathy")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "dates as written: charts read as on 2026-09-01",
        "  deficient_with_neuropathy: Patient/dwn-patient, 7 resources (0 created, 7 updated)",
        "  pure_motor_neuropathy: Patient/pmn-patient, 3 resources (3 created, 0 updated)",
        f"loaded 2 scenarios into {empty_server}: 10 resources (3 created, 7 updated)",
    ]


def test_dates_are_shifted_to_the_as_of_day_on_the_server(empty_server):
    result = invoke("load-fixtures", "--fhir-base", empty_server, "--token", BEARER, "--scenario",
                    "deficient_with_neuropathy", "--as-of", "2026-11-21")
    assert result.exit_code == 0, result.output
    assert "dates shifted by +81 days: charts read as on 2026-11-21 as they did on 2026-09-01" in result.stdout
    headers = {"Authorization": f"Bearer {BEARER}"}
    observation = requests.get(f"{empty_server}/Observation/dwn-b12-1", headers=headers, timeout=10).json()
    written = next(e["resource"] for e in chart_entries(FIXTURES / "deficient_with_neuropathy" / "chart.json")
                   if e["resource"]["id"] == "dwn-b12-1")
    moved = date.fromisoformat(observation["effectiveDateTime"][:10])
    assert (moved - date.fromisoformat(written["effectiveDateTime"][:10])).days == 81
    assert observation["code"] == written["code"] and observation["valueQuantity"] == written["valueQuantity"]


def test_a_refused_bundle_is_reported_and_the_others_still_load(empty_server, tmp_path):
    for name in ("healthy_young_adult_nothing", "folic_acid_untested_no_risk"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    broken = tmp_path / "broken_mismatched_id"
    broken.mkdir()
    (broken / "chart.json").write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "brk-patient"},
         "request": {"method": "PUT", "url": "Patient/brk-other"}}]}))
    result = invoke("load-fixtures", "--fhir-base", empty_server, "--token", BEARER, "--fixtures", tmp_path,
                    "--keep-dates")
    assert result.exit_code == 1
    assert "broken_mismatched_id: REFUSED HTTP 400" in result.stderr
    assert "does not match" in result.stderr  # the server's OperationOutcome diagnostics
    assert "loaded 2 scenarios" in result.stdout
    assert "1 of 3 scenarios refused: broken_mismatched_id" in result.stderr
    assert "Traceback" not in result.output


def test_a_wrong_token_is_refused_with_the_servers_words(empty_server):
    result = invoke("load-fixtures", "--fhir-base", empty_server, "--token", "wrong",
                    "--scenario", "healthy_young_adult_nothing")
    assert result.exit_code == 1
    assert "REFUSED HTTP 401" in result.stderr


def test_wait_gives_up_with_a_clear_message_when_nothing_answers():
    base = f"http://127.0.0.1:{free_port()}/fhir"
    result = invoke("load-fixtures", "--fhir-base", base, "--wait", "0.5")
    assert result.exit_code == 1
    assert f"the FHIR server at {base} was not up after 0.5 s" in result.output
    assert "connection refused" in result.output
    assert "Traceback" not in result.output


def test_wait_returns_at_once_when_the_server_is_up(empty_server):
    result = invoke("load-fixtures", "--fhir-base", empty_server, "--token", BEARER, "--wait", "30",
                    "--scenario", "healthy_young_adult_nothing")
    assert result.exit_code == 0, result.output


def test_an_unknown_scenario_or_conflicting_date_options_are_refused(empty_server):
    unknown = invoke("load-fixtures", "--fhir-base", empty_server, "--scenario", "no_such_scenario")
    assert unknown.exit_code == 1 and "no such scenario" in unknown.output
    both = invoke("load-fixtures", "--fhir-base", empty_server, "--keep-dates", "--as-of", "2026-11-21")
    assert both.exit_code == 2 and "exclude each other" in both.output


def test_the_default_fixtures_are_the_repositorys_in_a_checkout():
    assert default_fixtures_dir() == FIXTURES
    assert len(find_scenarios(default_fixtures_dir())) == len(CHARTS)


@pytest.mark.parametrize("chart", CHARTS, ids=[c.parent.name for c in CHARTS])
def test_every_reference_resolves_inside_the_bundle_for_hapi_referential_integrity(chart):
    entries = chart_entries(chart)
    in_bundle = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries}
    for entry in entries:
        resource = entry["resource"]
        contained = {f"#{c.get('id')}" for c in resource.get("contained", [])}
        dangling = [ref for ref in references(resource) if ref not in in_bundle | contained]
        assert dangling == [], f"{resource['resourceType']}/{resource['id']}"


@pytest.mark.parametrize("chart", CHARTS, ids=[c.parent.name for c in CHARTS])
def test_every_id_is_a_fhir_id_hapi_accepts_and_every_entry_is_a_put_to_it(chart):
    # why: HAPI FHIR refuses client-assigned ids made of digits only (client_id_strategy ALPHANUMERIC)
    for entry in chart_entries(chart):
        resource = entry["resource"]
        for rid in [resource["id"], *(c.get("id", "") for c in resource.get("contained", []))]:
            assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", rid) and not rid.isdigit(), rid
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
