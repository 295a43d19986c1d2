"""Builders shared by the tests: hook requests, Bundles, fixed clock and uuids."""

from __future__ import annotations

import copy
import functools
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fhir_fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"
FHIR_BASE = "https://ehr.example.org/fhir"
TOKEN = "opaque-access-token-123"
HOOK_INSTANCE = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"
FIXED_NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def accept_any_cards() -> dict[str, Callable[[Any], None]]:
    """Card-text checks that accept anything, one per evaluator the service has (to test the registry alone)."""
    from cds_service.rules.services import rule_modules

    return dict.fromkeys(rule_modules(), _accept)


def _accept(_texts: Any) -> None:
    return None


@functools.cache
def registered_services() -> tuple[Any, ...]:
    """The services defined in hooks/*.json (ServiceDefinitions, read once), card texts unchecked."""
    from cds_service.registry import load_registry

    return tuple(load_registry(ROOT / "hooks", accept_any_cards()))


def service_definition(service_id: str) -> Any:
    """The ServiceDefinition of one service in hooks/*.json."""
    [found] = [service for service in registered_services() if service.id == service_id]
    return found


def counting_uuids() -> Callable[[], str]:
    """Return a uuid factory giving 00000000-0000-4000-8000-000000000001, ...002, ..."""
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


def patient_view_request(patient_id: str = "pat-1", **overrides: Any) -> dict[str, Any]:
    """Build a minimal valid patient-view request (no prefetch, no fhirServer)."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": HOOK_INSTANCE,
        "context": {"userId": "Practitioner/example", "patientId": patient_id},
    }
    body.update(overrides)
    return body


def with_fhir_server(body: dict[str, Any], base: str = FHIR_BASE, token: str = TOKEN) -> dict[str, Any]:
    """Add fhirServer and fhirAuthorization to a request."""
    body = copy.deepcopy(body)
    body["fhirServer"] = base
    body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "cds-service"}
    return body


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    """Wrap resources in a searchset Bundle, optionally with a next link."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
                              "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def load_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def openapi_validator(schema_name: str):
    """Return a JSON Schema 2020-12 validator for one schema of the service's own OpenAPI document."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    document = load_json(ROOT / "cds_service" / "openapi.json")
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(
        document, default_specification=Draft202012Validator.META_SCHEMA and __import__(
            "referencing.jsonschema").jsonschema.DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:openapi#/components/schemas/{schema_name}"}, registry=registry)


#: The fixtures' card-kind names (written from B12-RULES.md §5) -> the card's source.topic code.
KIND_TOPICS = {
    "treat-neuro": "deficient_neuro",
    "treat": "deficient",
    "order-mma": "indeterminate",
    "order-b12": "not_tested",
    "reassess-on-treatment": "reassess",
    "motor-neuropathy-atypical": "pure_motor",
    "folate-with-deficiency": "folate_deficient",
    "folate-indeterminate": "folate_indeterminate",
    "folate-untested-risk": "folate_not_tested_risk",
    "folate-untested-info": "folate_not_tested",
    "metformin-b12-check": "metformin_monitoring",
}


def post_overlapping_feedback(apps: list[Any], threads: int, per_thread: int,
                              item: Any) -> tuple[list[str], list[int]]:
    """Post feedback from ``threads`` threads (thread i to ``apps[i % len(apps)]``) with duplicates across threads.

    Each thread posts its own cards and, with each, one card that every other thread posts too.
    Return the distinct card uuids and every response status.
    """
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    cards = [str(uuid.uuid4()) for _ in range(threads * per_thread)]

    def post_all(offset: int) -> list[int]:
        client = apps[offset % len(apps)].test_client()
        statuses = []
        for index in range(per_thread):
            own, shared = cards[offset * per_thread + index], cards[(index % threads) * per_thread]
            response = client.post("/cds-services/b12-status/feedback", json={"feedback": [item(own), item(shared)]})
            statuses.append(response.status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = [status for result in pool.map(post_all, range(threads)) for status in result]
    return cards, statuses
