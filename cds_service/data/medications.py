"""Find the Medications that medication records point to but the data at hand does not hold."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MEDICATION_REF = re.compile(r"^Medication/[A-Za-z0-9\-.]{1,64}$")
USES_MEDICATION = ("MedicationRequest", "MedicationStatement", "MedicationAdministration", "MedicationDispense")


def unresolved_medication_refs(resources: Iterable[dict[str, Any]]) -> list[str]:
    """Return relative ``Medication/<id>`` references of medication records, in first-seen order.

    Contained medications (``#id``) are resolved by the chart layer and are not listed.

    >>> unresolved_medication_refs([{"resourceType": "MedicationRequest",
    ...     "medicationReference": {"reference": "Medication/m1"}}])
    ['Medication/m1']
    """
    found: dict[str, None] = {}
    for resource in resources:
        if resource.get("resourceType") not in USES_MEDICATION:
            continue
        reference = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(reference, str) and MEDICATION_REF.match(reference):
            found.setdefault(reference, None)
    return list(found)
