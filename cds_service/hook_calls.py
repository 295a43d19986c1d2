"""The EHR's side of a hook call, shared by ``b12-cds fire`` and ``b12-cds evaluate``.

The hook context (CDS Hooks 2.0 patient-view, order-select, order-sign) and the draft orders read
from files. Nothing in the request path imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .data.fhir_client import bundle_resources

ORDER_HOOKS = ("order-select", "order-sign")
#: What an order file may hold, for messages that tell the user what to pass.
ORDER_FILE_KINDS = "a draft order (a FHIR resource), a Bundle of them, or a hook request with context.draftOrders"


class OrderFileError(ValueError):
    """An order file that cannot be read, or holds no draft orders in a form we know."""


def hook_context(hook: str, *, patient_id: str, user_id: str, draft_orders: Sequence[Mapping[str, Any]] = (),
                 selections: Sequence[str] = ()) -> dict[str, Any]:
    """Return the hook's context: userId and patientId, plus draftOrders and selections for order hooks.

    order-select's selections default to every draft order ("Type/id").

    >>> hook_context("order-select", patient_id="p1", user_id="Practitioner/7",
    ...              draft_orders=[{"resourceType": "MedicationRequest", "id": "m1"}])["selections"]
    ['MedicationRequest/m1']
    """
    context: dict[str, Any] = {"userId": user_id, "patientId": patient_id}
    if hook in ORDER_HOOKS:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": dict(order)} for order in draft_orders]}
    if hook == "order-select":
        context["selections"] = list(selections) or [
            f"{o.get('resourceType')}/{o.get('id')}" for o in draft_orders]
    return context


def orders_from(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the draft orders in a FHIR resource, a Bundle of them, or a hook request's context.draftOrders.

    :raises OrderFileError: the document is none of these.
    """
    context = document.get("context")
    if "resourceType" not in document and isinstance(context, dict) and isinstance(context.get("draftOrders"), dict):
        return orders_from(context["draftOrders"])  # a fixture's <service>.request.json
    if document.get("resourceType") == "Bundle":
        return bundle_resources(dict(document))
    if isinstance(document.get("resourceType"), str):
        return [dict(document)]
    raise OrderFileError(f"an order file must hold {ORDER_FILE_KINDS}")


def read_orders(paths: Iterable[Path]) -> tuple[dict[str, Any], ...]:
    """Read the draft orders of each file (see ``orders_from``), in order.

    :raises OrderFileError: a file is not readable JSON or holds no draft orders in a known form (named).
    """
    orders: list[dict[str, Any]] = []
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            orders += orders_from(document if isinstance(document, dict) else {})
        except (OSError, json.JSONDecodeError) as exc:
            raise OrderFileError(f"{path}: not readable JSON ({exc})") from exc
        except OrderFileError as exc:
            raise OrderFileError(f"{path}: {exc}") from exc
    return tuple(orders)
