"""Find the Medications that medication records point to but the data at hand does not hold."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MEDICATION_REF = re.compile(r"^Medication/[A-Za-z0-9\-.]{1,64}$")
USES_MEDICATION = ("MedicationRequest", "MedicationStatement", "MedicationAdministration", "MedicationDispense")


def medications_at_hand(resources: Iterable[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Return the Medications among ``resources`` by "Medication/<id>" (the last of an id wins), and the
    relative ``Medication/<id>`` references of medication records that none of them answers, in first-seen
    order.

    Contained medications (``#id``) are resolved by the chart layer and are not listed. Why one walk: resolving
    walked every resource of a call twice, once for the Medications and once for the references
    (``tests/test_data_fast_paths.py`` compares it with the two walks).

    >>> medications_at_hand([{"resourceType": "Medication", "id": "m1"}, {"resourceType": "MedicationRequest",
    ...     "medicationReference": {"reference": "Medication/m1"}}, {"resourceType": "MedicationStatement",
    ...     "medicationReference": {"reference": "Medication/m2"}}])
    ({'Medication/m1': {'resourceType': 'Medication', 'id': 'm1'}}, ['Medication/m2'])
    """
    held: dict[str, dict[str, Any]] = {}
    found: dict[str, None] = {}
    for resource in resources:
        kind = resource["resourceType"]
        if kind == "Medication":
            if isinstance(resource.get("id"), str):
                held[f"Medication/{resource['id']}"] = resource
        elif kind in USES_MEDICATION:
            # Read tolerantly: a medicationReference that is no object (a draft order sent it as a bare string)
            # names nothing to fetch; the chart layer notes the element, and the order is still read.
            held_ref = resource.get("medicationReference")
            reference = held_ref.get("reference") if isinstance(held_ref, dict) else None
            if isinstance(reference, str) and MEDICATION_REF.match(reference):
                found.setdefault(reference, None)
    return held, [ref for ref in found if ref not in held]
