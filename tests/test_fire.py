"""b12-cds fire: a minimal EHR against the running service (HTTP on loopback) and a real FHIR server (sekmet)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fhir_server import BEARER, free_port
from helpers import FIXED_NOW, FIXTURES, ROOT, load_json, service_definition
from live_service import LiveService, invoke, running_service, service_config

from cds_service import cli, ehr
from cds_service.ehr_http import EhrError, new_session

pytestmark = pytest.mark.integration

PATIENT_VIEW_KEYS = set(service_definition("b12-status").prefetch)


@pytest.fixture(scope="module")
def loaded(loaded_fhir_server: str) -> str:
    """The session's FHIR server with every fixture loaded as written (the service clock is 2026-09-01)."""
    return loaded_fhir_server


@pytest.fixture(scope="module")
def service(loaded: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    # localhost too: the --fhir-server-for-service test reaches the same server by another name
    bases = [loaded, loaded.replace("127.0.0.1", "localhost")]
    with running_service(service_config(tmp_path_factory.mktemp("fire"), FIXED_NOW, bases)) as live:
        yield live


@pytest.fixture
def svc(service: LiveService) -> LiveService:
    service.forget()
    return service


def fire(service: LiveService, base: str, *args: str):
    return invoke("fire", "--fhir-base", base, "--token", BEARER, "--service-url", service.url, *args)


def drafts_file(tmp_path: Path, scenario: str, service_id: str) -> Path:
    """The draft orders of a scenario's golden request, as a Bundle file for --order."""
    path = tmp_path / f"{scenario}-{service_id}.json"
    request = load_json(FIXTURES / scenario / f"{service_id}.request.json")
    path.write_text(json.dumps(request["context"]["draftOrders"]))
    return path


def test_patient_view_prints_the_cards_as_evaluate_does(svc, loaded):
    fired = fire(svc, loaded, "--patient", "dwn-patient", "--hook", "patient-view")
    assert fired.exit_code == 0, fired.output
    assert fired.stdout.startswith(f"b12-status (patient-view) for Patient/dwn-patient, from {loaded}\n")
    assert "!!! CRITICAL: B12 deficiency with neuropathy" in fired.stdout
    evaluated = invoke("evaluate", "--hook", "patient-view", FIXTURES / "deficient_with_neuropathy" / "chart.json",
                       "--date", "2026-09-01")
    assert fired.stdout.splitlines()[2:] == evaluated.stdout.splitlines()[2:]  # same cards, same rendering


def test_the_request_is_cds_hooks_2_with_prefetch_fhir_server_and_authorization(svc, loaded):
    for _ in range(2):
        assert fire(svc, loaded, "--patient", "Patient/dwn-patient", "--hook", "patient-view").exit_code == 0
    first, second = svc.hook_requests
    assert first["hook"] == "patient-view"
    assert uuid.UUID(first["hookInstance"]).version == 4 and first["hookInstance"] != second["hookInstance"]
    assert first["fhirServer"] == loaded
    assert first["fhirAuthorization"] == {"access_token": BEARER, "token_type": "Bearer", "expires_in": 300,
                                          "scope": "patient/*.read", "subject": "b12-cds-fire"}
    assert first["context"] == {"userId": "Practitioner/example", "patientId": "dwn-patient"}
    assert set(first["prefetch"]) == PATIENT_VIEW_KEYS
    assert first["prefetch"]["patient"]["id"] == "dwn-patient"
    assert svc.fhir_calls == []  # everything came prefetched


def test_no_prefetch_sends_none_and_the_service_fetches_everything(svc, loaded):
    result = fire(svc, loaded, "--patient", "dwn-patient", "--hook", "patient-view", "--no-prefetch", "--json",
                  "--user", "Practitioner/dr-who")
    assert result.exit_code == 0, result.output
    assert [card["indicator"] for card in json.loads(result.stdout)["cards"]] == ["critical"]
    [sent] = svc.hook_requests
    assert "prefetch" not in sent
    assert sent["context"]["userId"] == "Practitioner/dr-who"
    assert len(svc.fhir_calls) == len(PATIENT_VIEW_KEYS)
    assert all(url.startswith(loaded) for url in svc.fhir_calls)


def test_the_service_url_may_come_from_the_environment(svc, loaded):
    args = ["fire", "--fhir-base", loaded, "--patient", "hya-patient", "--hook", "patient-view", "--json"]
    result = CliRunner().invoke(cli.main, args, env={"B12CDS_SERVICE_URL": svc.url, "B12CDS_FHIR_TOKEN": BEARER})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"cards": []}
    assert [r["context"]["patientId"] for r in svc.hook_requests] == ["hya-patient"]


def test_json_is_the_raw_cds_hooks_response(svc, loaded):
    result = fire(svc, loaded, "--patient", "hya-patient", "--hook", "patient-view", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"cards": []}


def test_the_draft_orders_of_a_fixture_request_file_can_be_used_as_they_are(svc, loaded):
    request = FIXTURES / "folic_acid_b12_indeterminate" / "folic-acid-safety-select.request.json"
    result = fire(svc, loaded, "--patient", "fai-patient", "--hook", "order-select",
                  "--service", "folic-acid-safety-select", "--order", request, "--json")
    assert result.exit_code == 0, result.output
    assert [c["indicator"] for c in json.loads(result.stdout)["cards"]] == ["warning"]
    written = load_json(request)["context"]["draftOrders"]["entry"]
    assert svc.hook_requests[0]["context"]["draftOrders"]["entry"] == written


def test_an_order_file_that_is_no_fhir_resource_is_refused(svc, loaded, tmp_path):
    bad = tmp_path / "orders.json"
    bad.write_text('{"orders": []}')
    result = fire(svc, loaded, "--patient", "fad-patient", "--hook", "order-sign", "--order", bad)
    assert result.exit_code == 1
    assert f"{bad}: an order file must hold a draft order (a FHIR resource)" in result.output


def test_order_sign_with_draft_orders_from_a_bundle_file(svc, loaded, tmp_path):
    orders = drafts_file(tmp_path, "folic_acid_ordered_b12_deficient", "folic-acid-safety-sign")
    result = fire(svc, loaded, "--patient", "fad-patient", "--hook", "order-sign", "--order", orders)
    assert result.exit_code == 0, result.output
    assert "!!! CRITICAL: Folic acid with untreated B12 deficiency" in result.stdout
    assert "delete MedicationRequest/fad-draft-fa" in result.stdout
    [sent] = svc.hook_requests
    assert [e["resource"] for e in sent["context"]["draftOrders"]["entry"]] == \
        [e["resource"] for e in load_json(orders)["entry"]]
    assert "selections" not in sent["context"]


def test_order_select_takes_the_selection_or_else_every_draft(svc, loaded, tmp_path):
    bundle = load_json(drafts_file(tmp_path, "order_select_folic_acid_not_selected", "folic-acid-safety-select"))
    files = []
    for entry in bundle["entry"]:  # one file per order: single resources, not a Bundle
        files += ["--order", str(tmp_path / f"{entry['resource']['id']}.json")]
        Path(files[-1]).write_text(json.dumps(entry["resource"]))
    base_args = ["--patient", "fns-patient", "--hook", "order-select", "--service", "folic-acid-safety-select",
                 "--json", *files]
    statin_only = fire(svc, loaded, *base_args, "--select", "MedicationRequest/fns-draft-statin")
    everything = fire(svc, loaded, *base_args)
    assert json.loads(statin_only.stdout) == {"cards": []}
    assert [c["indicator"] for c in json.loads(everything.stdout)["cards"]] == ["critical"]
    assert svc.hook_requests[0]["context"]["selections"] == ["MedicationRequest/fns-draft-statin"]
    assert svc.hook_requests[1]["context"]["selections"] == [
        f"MedicationRequest/{e['resource']['id']}" for e in bundle["entry"]]


def test_the_fhir_server_named_for_the_service_is_the_one_it_fetches_from(svc, loaded):
    other_name = loaded.replace("127.0.0.1", "localhost")  # as docker-compose's http://hapi:8080/fhir
    result = fire(svc, loaded, "--patient", "dwn-patient", "--hook", "patient-view", "--no-prefetch",
                  "--fhir-server-for-service", other_name)
    assert result.exit_code == 0, result.output
    assert svc.hook_requests[0]["fhirServer"] == other_name
    assert svc.fhir_calls and all(url.startswith(other_name) for url in svc.fhir_calls)


def test_a_refusal_by_the_service_shows_the_status_and_its_diagnostics(svc, loaded):
    # Without prefetch the service would have to fetch from a server off its allowlist: 403.
    result = fire(svc, loaded, "--patient", "dwn-patient", "--hook", "patient-view", "--no-prefetch",
                  "--fhir-server-for-service", "https://elsewhere.example.org/fhir")
    assert result.exit_code == 1
    assert f"HTTP 403 from {svc.url}/cds-services/b12-status" in result.output
    assert "is not on this service's FHIR_SERVER_ALLOWLIST" in result.output


def test_an_unknown_patient_is_refused_before_any_hook_is_fired(svc, loaded):
    result = fire(svc, loaded, "--patient", "nobody-here", "--hook", "patient-view")
    assert result.exit_code == 1
    assert f"Patient/nobody-here is not on the FHIR server at {loaded}" in result.output
    assert svc.hook_requests == []


@pytest.mark.parametrize("which", ["service", "fhir server"])
def test_a_server_that_is_down_gives_one_clear_line(svc, loaded, which):
    closed = f"http://127.0.0.1:{free_port()}"
    if which == "service":
        result = invoke("fire", "--fhir-base", loaded, "--service-url", closed, "--patient", "dwn-patient",
                        "--hook", "patient-view")
        expected = f"cannot reach the CDS service at {closed}/cds-services: connection refused"
    else:
        result = fire(svc, f"{closed}/fhir", "--patient", "dwn-patient", "--hook", "patient-view")
        expected = f"cannot reach the FHIR server at {closed}/fhir/Patient/dwn-patient: connection refused"
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {expected}"


@pytest.mark.parametrize(("args", "message"), [
    (["--hook", "order-sign"], "order-sign needs at least one draft order (--order FILE)"),
    (["--hook", "patient-view", "--select", "MedicationRequest/x"], "go with order-select only"),
    (["--hook", "order-sign", "--service", "b12-status", "--order", "ORDERS"],
     "service 'b12-status' answers patient-view, not order-sign"),
    (["--hook", "patient-view", "--service", "nope"], "no service 'nope'; the service offers: b12-status"),
])
def test_usage_mistakes_are_explained(svc, loaded, tmp_path, args, message):
    orders = drafts_file(tmp_path, "folic_acid_ordered_b12_deficient", "folic-acid-safety-sign")
    result = fire(svc, loaded, "--patient", "fad-patient", *[str(orders) if a == "ORDERS" else a for a in args])
    assert result.exit_code == 1
    assert message in result.output


def test_several_services_for_one_hook_must_be_chosen_between(loaded, tmp_path):
    hooks = tmp_path / "hooks"
    shutil.copytree(ROOT / "hooks", hooks)
    twin = load_json(hooks / "folic-acid-safety-sign.json") | {"id": "folic-acid-safety-sign-twin"}
    (hooks / "twin.json").write_text(json.dumps(twin))
    orders = drafts_file(tmp_path, "folic_acid_ordered_b12_deficient", "folic-acid-safety-sign")
    with running_service(service_config(tmp_path, FIXED_NOW, [loaded], HOOKS_DIR=str(hooks))) as two:
        args = ["--patient", "fad-patient", "--hook", "order-sign", "--order", str(orders), "--json"]
        ambiguous = fire(two, loaded, *args)
        chosen = fire(two, loaded, *args, "--service", "folic-acid-safety-sign-twin")
    assert ambiguous.exit_code == 1
    assert ("2 services answer order-sign (folic-acid-safety-sign (order-sign), folic-acid-safety-sign-twin "
            "(order-sign)); choose one with --service") in ambiguous.output
    assert chosen.exit_code == 0, chosen.output
    assert [c["indicator"] for c in json.loads(chosen.stdout)["cards"]] == ["critical"]


def test_a_service_that_wants_a_jwt_is_explained(loaded, tmp_path):
    issuers = {"https://sandbox.cds-hooks.org": {"jwks_file": "builtin:cds-hooks-sandbox"}}
    secured = service_config(tmp_path, FIXED_NOW, [], AUTH_REQUIRED=True, PUBLIC_BASE_URL="https://cds.example.org/",
                             TRUSTED_ISSUERS=issuers)
    with running_service(secured) as live:
        result = fire(live, loaded, "--patient", "dwn-patient", "--hook", "patient-view")
    assert result.exit_code == 1
    assert "HTTP 401" in result.output and "run the service with CDS_AUTH_REQUIRED=false" in result.output


def test_a_prefetch_template_that_fails_is_left_out_with_a_note(loaded):
    templates = {"patient": "Patient/{{context.patientId}}", "missing": "Observation/{{context.patientId}}-none"}
    with new_session() as session:
        done = ehr.run_prefetch(session, loaded, templates, {"patientId": "dwn-patient"}, BEARER)
    assert set(done.values) == {"patient"}
    [note] = done.notes
    assert note.startswith("prefetch missing: HTTP 404") and note.endswith("the service fetches it itself")


def test_a_reference_token_reads_the_resource_it_names(loaded):
    # CDS Hooks' own example: "user": "{{context.userId}}" reads the user's resource (here a patient as user)
    templates = {"user": "{{context.userId}}"}
    with new_session() as session:
        done = ehr.run_prefetch(session, loaded, templates, {"userId": "Patient/dwn-patient"}, BEARER)
    assert done.notes == []
    assert (done.values["user"]["resourceType"], done.values["user"]["id"]) == ("Patient", "dwn-patient")


def test_no_token_means_no_fhir_authorization():
    call = ehr.HookCall(hook="patient-view", patient_id="p-1", user_id="Practitioner/example")
    request = ehr.build_request(call, fhir_server="http://localhost:8081/fhir", token=None, prefetch=None)
    assert set(request) == {"hook", "hookInstance", "fhirServer", "context"}


def test_choosing_a_service_lists_the_choices():
    services = [{"id": "a", "hook": "order-sign"}, {"id": "b", "hook": "order-sign"}]
    with pytest.raises(EhrError, match=r"2 services answer order-sign \(a \(order-sign\), b \(order-sign\)\)"):
        ehr.choose_service(services, "order-sign", None)
    assert ehr.choose_service(services, "order-sign", "b")["id"] == "b"
    with pytest.raises(EhrError, match="0 services answer patient-view"):
        ehr.choose_service(services, "patient-view", None)
