"""Hook requests built from a FHIR Bundle on disk: the service's own prefetch templates answered in memory.

Used by ``b12-cds evaluate`` (informaticists review the rules without an EHR) and by the fixture
tooling. Answering a template here means what a FHIR server would do for the queries our templates
use: a read, ``patient``, a token ``code`` list (``system|code`` or ``code``), ``_sort=-date`` and
``_count`` (ignored: everything fits one page). Referenced Medications come back as ``include``
entries, as an EHR using ``_include`` would send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from .data.fhir_client import bundle_resources
from .hook_calls import hook_context
from .protocol.prefetch_tokens import fill_template
from .registry import ServiceDefinition

__all__ = ["answer", "build_request", "bundle_resources", "split_drafts"]

OFFLINE_USER = "Practitioner/offline-reviewer"
ORDER_TYPES = ("MedicationRequest", "ServiceRequest", "NutritionOrder", "DeviceRequest", "VisionPrescription")


def answer(query: str, resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Answer one filled prefetch query from the resources, as a FHIR server would."""
    if "?" not in query:
        kind, rid = query.split("/", 1)
        return next((r for r in resources if r["resourceType"] == kind and r.get("id") == rid), None)
    kind, params = query.split("?", 1)
    matches = [r for r in resources if r["resourceType"] == kind]
    newest_first = False
    for name, value in parse_qsl(params):
        if name == "patient":
            matches = [r for r in matches if (r.get("subject") or {}).get("reference") == f"Patient/{value}"]
        elif name == "code":
            wanted = set(value.split(","))
            matches = [r for r in matches if wanted & _tokens(r.get("code"))]
        elif name == "_sort" and value == "-date":
            newest_first = True
        elif name != "_count":
            raise ValueError(f"cannot answer parameter {name!r} of {query} offline")
    if newest_first:
        matches.sort(key=_clinical_date, reverse=True)
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, r['resourceType'] + '/' + r.get('id', ''))}",
                "resource": r, "search": {"mode": "match"}} for r in matches]
    entries += [{"resource": m, "search": {"mode": "include"}} for m in _referenced_medications(matches, resources)]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}


def build_request(service: ServiceDefinition, resources: list[dict[str, Any]], *, patient_id: str,
                  draft_orders: Iterable[dict[str, Any]] = (), selections: Iterable[str] = (),
                  instance_seed: str = "") -> dict[str, Any]:
    """Build a complete hook request (with prefetch) for ``service`` from the patient's resources."""
    context = hook_context(service.hook, patient_id=patient_id, user_id=OFFLINE_USER,
                           draft_orders=list(draft_orders), selections=list(selections))
    prefetch = {key: answer(fill_template(template, context), resources) for key, template in service.prefetch.items()}
    seed = instance_seed or f"{service.id}:{patient_id}"
    return {"hook": service.hook, "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"b12-cds:{seed}")),
            "context": context, "prefetch": prefetch}


def split_drafts(resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Separate draft orders (order resources with status draft) from the chart."""
    drafts = [r for r in resources if r["resourceType"] in ORDER_TYPES and r.get("status") == "draft"]
    chart = [r for r in resources if not any(r is d for d in drafts)]
    return chart, drafts


def _tokens(concept: dict[str, Any] | None) -> set[str]:
    codings = (concept or {}).get("coding") or []
    return {f"{c.get('system')}|{c.get('code')}" for c in codings} | {str(c.get("code")) for c in codings}


def _clinical_date(resource: dict[str, Any]) -> str:
    return (resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
            or resource.get("issued") or "")


def _referenced_medications(matches: list[dict[str, Any]], resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = {(r.get("medicationReference") or {}).get("reference") for r in matches}
    return [r for r in resources if r["resourceType"] == "Medication" and f"Medication/{r.get('id')}" in wanted]
