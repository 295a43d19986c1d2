"""Check resources against the FHIR R4 model (``fhir.resources.R4B``), in a process of their own.

Why a process of its own: the service checks every suggested resource's template once, at start-up
(``cards/resources.py``), and never again. Importing the FHIR model classes for that holds memory for
the life of the process that imports them (fhir.resources builds a pydantic model for every element
type, and brings yaml and lxml): 6.2 MB in every ``b12-cds serve`` worker, since the app is loaded before
the fork. A child process gives that memory back when it exits.

How it is run: ``python -I <this file>`` with a JSON array of resources on stdin; it writes a JSON array
on stdout with, for each resource, the list of its problems (empty when it is valid), and exits 0 when it
could check them all. It imports nothing from ``cds_service``: the child runs this file alone, in isolated
mode (no current directory or script directory on ``sys.path``), with the same interpreter.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def problems(resource: Any) -> list[str]:
    """What makes ``resource`` unfit to suggest: invalid against its R4 model, or an empty element
    (``None``, ``""``, ``[]`` or ``{}``, which FHIR forbids and the models let through). Empty: fit."""
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.servicerequest import ServiceRequest

    models = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if resource_type not in models:
        return [f"not a resource this service suggests (resourceType {resource_type!r})"]
    found = []
    try:
        models[resource_type].model_validate(resource)
    except ValueError as exc:
        found.append(f"{resource_type} invalid: {exc}")
    found += _empties(resource, resource_type)
    return found


def _empties(node: Any, path: str) -> list[str]:
    if node is None or node == "" or node == [] or node == {}:
        return [f"{path} is empty"]
    if isinstance(node, dict):
        return [problem for key, value in node.items() for problem in _empties(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [problem for i, value in enumerate(node) for problem in _empties(value, f"{path}[{i}]")]
    return []


def main() -> int:
    resources = json.load(sys.stdin)
    json.dump([problems(resource) for resource in resources], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
