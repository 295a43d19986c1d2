"""POST /cds-services/{id}: every status code the service answers, each with an OperationOutcome."""

from __future__ import annotations

import json

import pytest
import responses
from builders.fhir import patient
from helpers import (
    FHIR_BASE,
    HOOK_INSTANCE,
    TOKEN,
    patient_view_request,
    registered_services,
    searchset,
    service_definition,
    with_fhir_server,
)

PATIENT = patient("female", "1990-05-01")
#: Every prefetch key any registered service asks for (so the quiet prefetch serves them all).
SERVICE_KEYS = tuple(sorted({key for service in registered_services() for key in service.prefetch}))


def quiet_chart_prefetch() -> dict:
    """Everything answered, nothing of clinical interest: a young patient with an empty record."""
    prefetch = {key: searchset() for key in SERVICE_KEYS}
    prefetch["patient"] = PATIENT
    return prefetch


def folic_acid_draft(order_id: str = "draft-folic-1") -> dict:
    return {"resourceType": "MedicationRequest", "id": order_id, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pat-1"},
            "medicationCodeableConcept": {"text": "Folic acid 5 mg tablet"}}


def order_request(hook: str, **context_overrides) -> dict:
    context = {"userId": "Practitioner/example", "patientId": "pat-1",
               "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": folic_acid_draft()}]}}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-folic-1"]
    context.update(context_overrides)
    return {"hook": hook, "hookInstance": HOOK_INSTANCE, "context": context, "prefetch": quiet_chart_prefetch()}


def assert_outcome(response, status: int, expression: str | None = None, words: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    if expression is not None:
        assert issue["expression"] == [expression]
    if words is not None:
        assert words in issue["diagnostics"]
    return issue


def test_a_quiet_chart_gets_an_empty_card_list(client):
    response = client.post("/cds-services/b12-status", json=patient_view_request(prefetch=quiet_chart_prefetch()))
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


@pytest.mark.parametrize("service,hook", [(s.id, s.hook) for s in registered_services()
                                          if s.hook in ("order-select", "order-sign")])
def test_order_hooks_accept_the_sandbox_draft_orders_without_bundle_type(client, service, hook):
    response = client.post(f"/cds-services/{service}", json=order_request(hook))
    assert response.status_code == 200
    assert isinstance(response.get_json()["cards"], list)


def test_unknown_service_is_404(client):
    assert_outcome(client.post("/cds-services/nope", json=patient_view_request()), 404, words="'nope'")


def test_a_body_that_is_not_json_is_415(client):
    response = client.post("/cds-services/b12-status", data="hook=patient-view", content_type="text/plain")
    assert_outcome(response, 415, words="text/plain")


def test_malformed_json_is_400(client):
    response = client.post("/cds-services/b12-status", data="{'hook':", content_type="application/json")
    assert_outcome(response, 400, words="not valid JSON")


def test_a_json_array_body_is_400(client):
    assert_outcome(client.post("/cds-services/b12-status", json=[1, 2]), 400, words="JSON object")


@pytest.mark.parametrize(("change", "expression"), [
    (lambda b: b.pop("hookInstance"), "hookInstance"),
    (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
    (lambda b: b.pop("context"), "context"),
    (lambda b: b["context"].pop("patientId"), "context.patientId"),
    (lambda b: b["context"].pop("userId"), "context.userId"),
    (lambda b: b["context"].update(patientId="pat-1&_include=*"), "context.patientId"),
    (lambda b: b.update(hook="order-sign"), "hook"),
    (lambda b: b.update(fhirServer="not a url"), "fhirServer"),
    (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 1,
                                           "scope": "s", "subject": "x"}), "body"),
    (lambda b: b.update(prefetch={"patient": "Patient/1"}), "prefetch.patient"),
])
def test_missing_or_wrong_fields_are_400_naming_the_field(client, change, expression):
    body = patient_view_request(prefetch=quiet_chart_prefetch())
    change(body)
    assert_outcome(client.post("/cds-services/b12-status", json=body), 400, expression=expression)


@pytest.mark.parametrize(("field", "value"), [("patientId", ".."), ("patientId", "."), ("encounterId", ".."),
                                            ("userId", "Practitioner/..")])
def test_dot_segment_ids_are_400_before_anything_is_fetched(client, field, value):
    # "Patient/.." would be sent as the FHIR base itself, "Patient/." as a search of every patient
    body = with_fhir_server(patient_view_request())
    body["context"][field] = value
    with responses.RequestsMock():  # any FHIR call would fail this test
        assert_outcome(client.post("/cds-services/b12-status", json=body), 400, expression=f"context.{field}",
                       words="'.' and '..' cannot be ids")


def test_fhir_authorization_without_fhir_server_says_why(client):
    body = patient_view_request(fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 1,
                                                   "scope": "s", "subject": "x"})
    assert_outcome(client.post("/cds-services/b12-status", json=body), 400,
                   words="fhirServer is required when fhirAuthorization is present")


def test_a_selection_that_is_not_among_the_draft_orders_is_400(client):
    body = order_request("order-select", selections=["MedicationRequest/other"])
    assert_outcome(client.post("/cds-services/folic-acid-safety-select", json=body), 400,
                   expression="context")


def test_order_select_without_draft_orders_is_400(client):
    body = order_request("order-select")
    del body["context"]["draftOrders"]
    assert_outcome(client.post("/cds-services/folic-acid-safety-select", json=body), 400,
                   expression="context.draftOrders")


def test_missing_prefetch_without_fhir_server_is_412(client):
    issue = assert_outcome(client.post("/cds-services/b12-status", json=patient_view_request()), 412)
    assert issue["code"] == "incomplete"
    assert "prefetch.b12Labs" in issue["expression"]


@responses.activate
def test_missing_prefetch_is_fetched_from_the_fhir_server(client):
    responses.get(f"{FHIR_BASE}/Patient/pat-1", json=PATIENT)
    for resource_type in ("Observation", "MedicationStatement", "MedicationRequest", "Condition", "Procedure"):
        responses.get(f"{FHIR_BASE}/{resource_type}", json=searchset())
    response = client.post("/cds-services/b12-status", json=with_fhir_server(patient_view_request()))
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}
    assert len(responses.calls) == len(service_definition("b12-status").prefetch)
    assert {call.request.headers["Authorization"] for call in responses.calls} == {f"Bearer {TOKEN}"}


def test_get_on_a_service_is_405_with_an_operation_outcome(client):
    assert_outcome(client.get("/cds-services/b12-status"), 405)


def test_an_unknown_path_is_404_with_an_operation_outcome(client):
    assert_outcome(client.get("/nothing-here"), 404)


def test_a_body_over_the_limit_is_413(app_config):
    from cds_service import create_app

    small = create_app({**app_config, "MAX_CONTENT_LENGTH": 1000})
    body = json.dumps(patient_view_request(padding="x" * 2000))
    response = small.test_client().post("/cds-services/b12-status", data=body, content_type="application/json")
    assert_outcome(response, 413, words="larger than 1000 bytes")


def test_an_unexpected_error_is_a_500_operation_outcome_without_details(client, app, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("cds_service.api.engine.evaluate", explode)
    response = client.post("/cds-services/b12-status", json=patient_view_request(prefetch=quiet_chart_prefetch()))
    issue = assert_outcome(response, 500)
    assert "secret" not in issue["diagnostics"]


def test_discovery_answers_with_a_trailing_slash_too(client):
    assert client.get("/cds-services/").status_code == 200


def test_an_extra_draft_orders_member_on_patient_view_is_ignored_not_a_500(client):
    body = patient_view_request(prefetch=quiet_chart_prefetch())
    body["context"]["draftOrders"] = {"unexpected": True}
    assert client.post("/cds-services/b12-status", json=body).status_code == 200


def test_a_token_scoped_to_another_patient_is_400(client):
    body = with_fhir_server(patient_view_request(prefetch=quiet_chart_prefetch()))
    body["fhirAuthorization"]["patient"] = "someone-else"
    assert_outcome(client.post("/cds-services/b12-status", json=body), 400,
                   expression="fhirAuthorization.patient")


def test_a_selection_given_as_a_bare_id_still_selects_its_draft(app):
    from cds_service.protocol.request import parse_hook_call

    call = parse_hook_call(order_request("order-select", selections=["draft-folic-1"]), "order-select")
    assert call.context.selected_references == ("MedicationRequest/draft-folic-1",)


def test_a_prefetched_search_that_reports_an_error_is_treated_as_failed(client):
    failed = searchset()
    failed["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout"}]}, "search": {"mode": "outcome"}})
    prefetch = {**quiet_chart_prefetch(), "conditions": failed}
    response = client.post("/cds-services/b12-status", json=patient_view_request(prefetch=prefetch))
    assert_outcome(response, 412, words="conditions: the EHR's search reported an error")
