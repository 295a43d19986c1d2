"""Service definitions: hooks/*.json is the only source of discovery, and bad files stop start-up."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import ROOT, accept_any_cards

from cds_service.errors import ConfigError
from cds_service.registry import PRIVATE_BLOCK, default_hooks_dir, load_registry


@pytest.fixture
def hooks_copy(tmp_path: Path) -> Path:
    target = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", target)
    return target


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_every_hook_file_is_a_service_and_the_product_services_are_there():
    registry = load_registry(ROOT / "hooks", accept_any_cards())
    hooks = {service.id: service.hook for service in registry}
    files = {path.stem: json.loads(path.read_text("utf-8")) for path in (ROOT / "hooks").glob("*.json")}
    assert hooks == {name: data["hook"] for name, data in files.items() if "hook" in data}  # shared texts have none
    assert {"b12-status": "patient-view", "folic-acid-safety-select": "order-select",
            "folic-acid-safety-sign": "order-sign"}.items() <= hooks.items()


def test_discovery_never_shows_the_private_block():
    discovery = load_registry(ROOT / "hooks", accept_any_cards()).discovery()
    for service in discovery["services"]:
        assert PRIVATE_BLOCK not in service
        assert set(service) <= {"hook", "title", "description", "id", "prefetch", "usageRequirements"}


def test_checkout_finds_the_repository_hooks_directory():
    assert default_hooks_dir() in (ROOT / "hooks", ROOT / "cds_service" / "_hooks")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("description"), "b12-status.json: description: Field required"),
    (lambda d: d.update(hook="encounter-start"), "b12-status.json: hook: Input should be"),
    (lambda d: d.update(id="has space"), "b12-status.json: id: String should match pattern"),
    (lambda d: d["prefetch"].update(patient="Patient/{{context.draftOrders}}"), "unknown token"),
    (lambda d: d["prefetch"].update(patient="Patient/{{context.selections}}"), "unknown token"),
    (lambda d: d["prefetch"].update(extra="Condition?patient={{context.patientId}}"),
     "prefetch.extra: say in x-b12cds.prefetchPolicy"),
    (lambda d: d["prefetch"].update(patient="https://ehr/fhir/Patient/1"), "must be relative"),
    (lambda d: d[PRIVATE_BLOCK].update(evaluator="nope"), "x-b12cds.evaluator: unknown evaluator 'nope'"),
    (lambda d: d[PRIVATE_BLOCK]["prefetchPolicy"]["required"].append("ghost"), "names 'ghost'"),
    (lambda d: d.update(surprise=1), "b12-status.json: surprise: Extra inputs are not permitted"),
])
def test_an_invalid_definition_stops_start_up_naming_file_and_field(hooks_copy, change, message):
    edit(hooks_copy / "b12-status.json", change)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_registry(hooks_copy, accept_any_cards())


def test_invalid_json_names_the_file(hooks_copy):
    (hooks_copy / "b12-status.json").write_text("{oops")
    with pytest.raises(ConfigError, match=r"b12-status\.json: not valid JSON"):
        load_registry(hooks_copy, accept_any_cards())


def test_a_duplicate_id_names_both_files(hooks_copy):
    shutil.copy(hooks_copy / "b12-status.json", hooks_copy / "zz-copy.json")
    with pytest.raises(ConfigError, match=r"zz-copy\.json: id 'b12-status' is already defined in b12-status"):
        load_registry(hooks_copy, accept_any_cards())


def test_bad_card_texts_stop_start_up(hooks_copy):
    def reject(texts):
        raise ValueError("summary of 'treat-neuro' is missing")

    with pytest.raises(ConfigError, match=r"x-b12cds\.cards: summary of 'treat-neuro' is missing"):
        load_registry(hooks_copy, accept_any_cards() | {"b12_status": reject})


def test_an_empty_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no CDS service definitions"):
        load_registry(tmp_path, accept_any_cards())


@pytest.mark.parametrize(("key", "pages", "message"), [
    ("medicationRequests", "newest", "'newest' needs a search sorted newest first"),
    ("patient", "all", "is a read, not a search"),
    ("nope", "all", "'nope' is not a prefetch key"),
    ("bloodCount", "some", "pages.bloodCount"),
])
def test_a_wrong_paging_declaration_stops_start_up(hooks_copy, key, pages, message):
    path = hooks_copy / "b12-status.json"
    service = json.loads(path.read_text())
    service["x-b12cds"]["prefetchPolicy"]["pages"][key] = pages
    path.write_text(json.dumps(service))
    with pytest.raises(ConfigError, match=message):
        load_registry(hooks_copy, accept_any_cards())


def test_an_optional_key_must_say_which_data_set_it_holds(tmp_path):
    source = ROOT / "hooks"
    service = json.loads((source / "b12-status.json").read_text("utf-8"))
    del service["x-b12cds"]["prefetchPolicy"]["dataSets"]["renalFunction"]
    (tmp_path / "card-texts").mkdir()
    for shared in (source / "card-texts").glob("*.json"):
        (tmp_path / "card-texts" / shared.name).write_text(shared.read_text("utf-8"), "utf-8")
    (tmp_path / "b12-status.json").write_text(json.dumps(service), "utf-8")
    with pytest.raises(ConfigError, match=r"dataSets: say which data set optional key 'renalFunction' holds"):
        load_registry(tmp_path, accept_any_cards())


def test_the_rules_see_data_sets_not_prefetch_keys():
    from helpers import service_definition

    from cds_service.chart.facts import DataSet

    assert service_definition("folic-acid-safety-sign").data_sets == {
        "bloodCount": DataSet.BLOOD_COUNT, "renalFunction": DataSet.RENAL_FUNCTION,
        "procedures": DataSet.PROCEDURES, "pregnancyStatus": DataSet.PREGNANCY_TESTS}
