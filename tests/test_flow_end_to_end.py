"""The whole developer flow over HTTP: load-fixtures into a real FHIR server (sekmet, then HAPI FHIR), then fire every
scenario's hook calls at the running service as a minimal EHR, with and without prefetch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir_server import BEARER, running_fhir_server
from fixture_tools import FixtureCall, iter_fixture_calls
from helpers import FIXED_NOW, KIND_TOPICS, ROOT, load_json
from live_service import LiveService, invoke, running_service, service_config

from cds_service.dateshift import shift_dates

pytestmark = pytest.mark.integration

FIXTURE_CALLS = list(iter_fixture_calls())
SHIFTED_DAY = "2026-11-21"
SHIFTED_NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def loaded(loaded_fhir_server: str) -> str:
    """The session's FHIR server with every fixture loaded as written (the service clock is 2026-09-01)."""
    return loaded_fhir_server


@pytest.fixture(scope="module")
def service(loaded: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with running_service(service_config(tmp_path_factory.mktemp("svc"), FIXED_NOW, [loaded])) as live:
        yield live


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LiveService]]:
    """A second FHIR server (the same ids must not overwrite the first) holding every scenario shifted to
    SHIFTED_DAY, and a service whose clock reads that day."""
    workdir = tmp_path_factory.mktemp("shifted")
    with running_fhir_server(workdir) as base:
        result = invoke("load-fixtures", "--fhir-base", base, "--token", BEARER, "--as-of", SHIFTED_DAY)
        assert result.exit_code == 0, result.output
        assert "dates shifted by +81 days: charts read as on 2026-11-21 as they did on 2026-09-01" in result.output
        with running_service(service_config(workdir, SHIFTED_NOW, [base])) as live:
            yield base, live


def fire_args(fixture: FixtureCall, base: str, service_url: str, orders_dir: Path, days: int = 0) -> list[str]:
    """The fire command line for one scenario call (draft orders written to a file, dates shifted by ``days``)."""
    patient = _patient(fixture)
    args = ["fire", "--json", "--fhir-base", base, "--token", BEARER, "--service-url", service_url,
            "--patient", patient, "--hook", fixture.call["hook"], "--service", fixture.service]
    if "draftOrders" in fixture.call:
        orders = orders_dir / f"{fixture.test_id}.json"
        orders.write_text(json.dumps(shift_dates(fixture.call["draftOrders"], days)))
        args += ["--order", str(orders)]
    for selection in fixture.call.get("selections", ()):
        args += ["--select", selection]
    return args


def expected_cards(fixture: FixtureCall) -> list[tuple[str, str]]:
    expect = fixture.call["expect"]
    return list(zip(expect["indicators"], [KIND_TOPICS[kind] for kind in expect["cardKinds"]], strict=True))


def fired_cards(args: list[str]) -> list[tuple[str, str]]:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return [(card["indicator"], card["source"]["topic"]["code"]) for card in json.loads(result.stdout)["cards"]]


def _patient(fixture: FixtureCall) -> str:
    chart = json.loads((fixture.directory / "chart.json").read_text(encoding="utf-8"))
    return next(e["resource"]["id"] for e in chart["entry"] if e["resource"]["resourceType"] == "Patient")


@pytest.mark.parametrize("prefetch", ["--prefetch", "--no-prefetch"])
@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=[f.test_id for f in FIXTURE_CALLS])
def test_every_scenario_call_fired_over_http_gives_the_expected_cards(service, loaded, fixture, prefetch, tmp_path):
    service.forget()
    args = [*fire_args(fixture, loaded, service.url, tmp_path), prefetch]
    assert fired_cards(args) == expected_cards(fixture)

    [sent] = service.hook_requests
    templates = load_json(ROOT / "hooks" / f"{fixture.service}.json")["prefetch"]
    if prefetch == "--prefetch":  # the EHR answered every template; the service fetched referenced Medications only
        assert set(sent["prefetch"]) == set(templates)
        assert all("/Medication/" in url for url in service.fhir_calls), service.fhir_calls
    else:  # nothing prefetched: the service queried the FHIR server for every template
        assert "prefetch" not in sent
        assert len([url for url in service.fhir_calls if "/Medication/" not in url]) == len(templates)


@pytest.mark.parametrize("fixture", FIXTURE_CALLS, ids=[f.test_id for f in FIXTURE_CALLS])
def test_charts_shifted_to_another_day_give_the_same_cards_on_that_day(shifted, fixture, tmp_path):
    base, live = shifted
    days = (SHIFTED_NOW.date() - fixture.evaluated_at.date()).days
    assert fired_cards(fire_args(fixture, base, live.url, tmp_path, days)) == expected_cards(fixture)
