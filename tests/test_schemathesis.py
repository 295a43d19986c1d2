"""Hostile input: schemathesis fuzzes every operation of the service's own OpenAPI 3.1 document.

The schema is loaded from the app itself (``GET /openapi.json`` over WSGI, no network) and every
operation is called with the document's examples, schemathesis' coverage cases (boundary values,
missing fields, wrong types, unexpected methods) and a bounded number of generated valid and invalid
requests. Every response must not be a 5xx, must use a status code the document declares for the
operation, and must match the document's schema for that status.

Reproducible: hypothesis is derandomized (same cases on every run) and keeps no example database.

Nothing leaves the machine: a hook call that carries a ``fhirServer`` makes the app call that URL back
(only https://ehr.example.org/fhir here; any other server is refused with 403 before anything is sent),
so a catch-all ``responses`` mock answers every ``requests`` call, any method and any URL, for the
whole module: a read finds nothing (404), a search finds nothing (empty searchset).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import responses
import schemathesis
from helpers import FHIR_BASE, FIXED_NOW, HOOK_INSTANCE, counting_uuids, registered_services
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from cds_service import create_app

#: Generated requests per operation (hypothesis ``max_examples``); the document's examples and the
#: coverage cases come on top of these.
MAX_EXAMPLES = 50

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

#: Which service answers which hook, so that generated hook calls reach a service rather than a 404.
#: (The first service by id for each hook in hooks/*.json.)
SERVICE_FOR_HOOK: dict[str, str] = {}
for _service in sorted(registered_services(), key=lambda service: service.id):
    SERVICE_FOR_HOOK.setdefault(_service.hook, _service.id)


def _build_app(workdir: Path) -> Any:
    """The app of conftest's ``app_config``, built at import: the schema must exist when tests are collected."""
    config = {
        "AUTH_REQUIRED": False,
        "FEEDBACK_DATABASE_URL": f"sqlite:///{workdir / 'feedback.sqlite3'}",
        "CLOCK": lambda: FIXED_NOW,
        "UUID_FACTORY": counting_uuids(),
        "FHIR_DEADLINE": 1.0,
        "FHIR_REQUEST_TIMEOUT": 0.5,
        # The document's examples call back https://ehr.example.org/fhir/r4: allowed, so the fetch path
        # runs (against the mock below); any other generated fhirServer is refused with 403.
        "FHIR_SERVER_ALLOWLIST": [FHIR_BASE],
    }
    # Keep the developer's CDS_* variables out, as conftest's autouse fixture does for the other tests.
    clean = {name: value for name, value in os.environ.items() if not name.startswith("CDS_")}
    with mock.patch.dict(os.environ, clean, clear=True):
        return create_app(config)


_WORKDIR = tempfile.TemporaryDirectory(prefix="b12cds-schemathesis-")
APP = _build_app(Path(_WORKDIR.name))
# Schemathesis leaves out the operation that served the document unless a filter names it; this one
# names every path, so GET /openapi.json is tested too.
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP).include(path_regex="^/")


_EMPTY_SEARCH = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0})
_NOT_FOUND = json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})


def _fhir_callback(request: Any) -> tuple[int, dict[str, str], str]:
    """Answer any FHIR call the app makes: a search finds nothing, a read finds nothing."""
    headers = {"Content-Type": "application/fhir+json"}
    return (200, headers, _EMPTY_SEARCH) if "?" in (request.url or "") else (404, headers, _NOT_FOUND)


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[responses.RequestsMock]:
    """Intercept every ``requests`` call (any method, any URL) for the whole module."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        for method in (responses.GET, responses.HEAD, responses.POST, responses.PUT, responses.PATCH,
                       responses.DELETE, responses.OPTIONS):
            mocked.add_callback(method, re.compile(r".*"), callback=_fhir_callback)
        yield mocked
    _WORKDIR.cleanup()


def _align_service_with_hook(case: schemathesis.Case) -> None:
    """Send a generated hook call to the service of its hook (else nearly every call is a 404)."""
    if case.operation.path != "/cds-services/{id}" or not isinstance(case.body, dict):
        return
    hook = case.body.get("hook")
    service_id = SERVICE_FOR_HOOK.get(hook) if isinstance(hook, str) else None
    if service_id is not None:
        case.path_parameters = {**(case.path_parameters or {}), "id": service_id}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, no_network: responses.RequestsMock) -> None:
    """No 5xx, only documented status codes, and every response body matches the document."""
    _align_service_with_hook(case)
    case.call_and_validate(checks=CHECKS)


#: Required prefetch keys of all three services: the patient, and no data for the others.
_PREFETCH = {
    "patient": {"resourceType": "Patient", "id": "pat-1"},
    "b12Labs": None,
    "medicationStatements": None,
    "medicationRequests": None,
    "conditions": None,
}
_DRAFT_ORDERS = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
    "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
    "medicationCodeableConcept": {"text": "folic acid 5 mg tablet"}, "subject": {"reference": "Patient/pat-1"}}}]}


# Found by this fuzzer (500 for each): the context models allow unknown members, and members named like
# another hook's field were read as that field. Fixed in 26c571c; kept as exact regressions. A member named
# "keys" (found in review, issue #12) made dict(context) call it: the prefetch tokens now come from the model's items.
@pytest.mark.parametrize(("service_id", "hook", "context"), [
    ("b12-status", "patient-view", {"draftOrders": {"resourceType": "Bundle"}}),
    ("b12-status", "patient-view", {"selections": 5}),
    ("folic-acid-safety-sign", "order-sign", {"draftOrders": _DRAFT_ORDERS, "selections": 5}),
    ("b12-status", "patient-view", {"keys": "x"}),
    ("folic-acid-safety-sign", "order-sign", {"draftOrders": _DRAFT_ORDERS, "keys": None}),
], ids=["patient-view draftOrders", "patient-view selections", "order-sign selections", "patient-view keys",
        "order-sign keys"])
def test_unknown_context_members_are_ignored(service_id: str, hook: str, context: dict[str, Any]) -> None:
    """Members a hook does not define are ignored, whatever their name (the document: additionalProperties)."""
    body = {
        "hook": hook,
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/example", "patientId": "pat-1", **context},
        "prefetch": _PREFETCH,
    }
    with APP.test_client() as client:
        response = client.post(f"/cds-services/{service_id}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
