"""Which elements the rules read, and what in them could not be read (B12-RULES.md §7, tolerant reading).

Nothing here validates a whole resource. Each reader names the elements it reads (``SPECS``);
only those are checked, each with a small shape check that never raises. A defect anywhere
else (a ``category`` object where a list belongs, an unknown extension, a ``note`` string)
is not looked at, so it can neither hide a resource nor add a note. A defect in a read element
becomes a chart note naming the element; the readers then take the cautious reading
(an unreadable dose is an unknown dose).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .fhir_types import JSON, as_dict, as_number, parse_fhir_date, resource_ref

Check = Callable[[object], str | None]  # value -> why it cannot be read, or None


def _string(value: object) -> str | None:
    return None if isinstance(value, str) else "not a string"


def _date(value: object) -> str | None:
    if not isinstance(value, str):
        return "not a date string"
    return None if parse_fhir_date(value) else f"'{value[:40]}' is not a FHIR date"


def _number(value: object) -> str | None:
    return None if as_number(value) is not None else "not a number"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


def _object(check: Mapping[str, Check]) -> Check:
    """A check of a JSON object whose listed keys are checked in turn (first problem wins)."""
    # Why the string checks are inlined: this runs for every element of every resource read, and most
    # listed keys are strings; the answers (and which problem comes first) are the same.
    items = tuple((key, None if inner is _string else inner) for key, inner in check.items())

    def run(value: object) -> str | None:
        if not isinstance(value, dict):
            return "not an object"
        for key, inner in items:
            if key in value:
                element = value[key]
                if inner is None:
                    if not isinstance(element, str):
                        return f"{key}: not a string"
                    continue
                problem = inner(element)
                if problem:
                    return f"{key}: {problem}"
        return None

    return run


def _array(item: Check) -> Check:
    """A check of a FHIR array; a lone object is a defect (it is still read as one item)."""

    def run(value: object) -> str | None:
        if isinstance(value, dict):
            return "an object where a list belongs (read as one item)"
        if not isinstance(value, list):
            return "not a list"
        for index, element in enumerate(value):
            problem = item(element)
            if problem:
                return f"[{index}] {problem}"
        return None

    return run


CODING = _object({"system": _string, "code": _string, "display": _string})
CONCEPT = _object({"coding": _array(CODING), "text": _string})
QUANTITY = _object({"value": _number, "comparator": _string, "unit": _string, "system": _string,
                    "code": _string})
PERIOD = _object({"start": _date, "end": _date})
REFERENCE = _object({"reference": _string, "display": _string})
RATIO = _object({"numerator": QUANTITY, "denominator": QUANTITY})
TIMING = _object({"code": CONCEPT, "repeat": _object({
    "frequency": _number, "period": _number, "periodUnit": _string, "boundsPeriod": PERIOD})})
DOSAGE = _array(_object({"text": _string, "route": CONCEPT, "timing": TIMING, "sequence": _number,
                         "doseAndRate": _array(_object({"doseQuantity": QUANTITY}))}))

#: The elements each reader uses, per resource type. Nothing else is looked at.
SPECS: dict[str, dict[str, Check]] = {
    "Patient": {"gender": _string, "birthDate": _date, "deceasedBoolean": _boolean,
                "deceasedDateTime": _date},
    "Observation": {
        "status": _string, "code": CONCEPT, "valueQuantity": QUANTITY, "valueString": _string,
        "valueInteger": _number, "valueCodeableConcept": CONCEPT, "effectiveDateTime": _date,
        "effectivePeriod": PERIOD, "effectiveInstant": _date, "issued": _date,
        "interpretation": _array(CONCEPT),
        "referenceRange": _array(_object({"low": QUANTITY, "high": QUANTITY})),
    },
    "MedicationRequest": {
        "status": _string, "medicationCodeableConcept": CONCEPT, "medicationReference": REFERENCE,
        "dosageInstruction": DOSAGE, "authoredOn": _date,
        "dispenseRequest": _object({"validityPeriod": PERIOD}),
    },
    "MedicationStatement": {
        "status": _string, "medicationCodeableConcept": CONCEPT, "medicationReference": REFERENCE,
        "dosage": DOSAGE, "effectiveDateTime": _date, "effectivePeriod": PERIOD,
    },
    "Medication": {"code": CONCEPT, "form": CONCEPT,
                   "ingredient": _array(_object({"itemCodeableConcept": CONCEPT, "strength": RATIO}))},
    "Condition": {
        "code": CONCEPT, "category": _array(CONCEPT), "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT, "onsetDateTime": _date, "onsetPeriod": PERIOD,
        "recordedDate": _date, "abatementDateTime": _date, "abatementPeriod": PERIOD,
    },
    "Procedure": {"status": _string, "code": CONCEPT, "performedDateTime": _date, "performedPeriod": PERIOD},
}


def unreadable(resource: JSON) -> dict[str, str]:
    """Return {element: why} for each element the readers use that could not be read."""
    spec = SPECS.get(str(resource.get("resourceType")), {})
    found: dict[str, str] = {}
    for key, check in spec.items():
        if key in resource:
            problem = check(resource[key])
            if problem:
                found[key] = problem
    return found


def unreadable_notes(resource: JSON, found: Mapping[str, str], consequence: str = "") -> tuple[str, ...]:
    """Return one chart note per unreadable element, naming the resource and the element."""
    tail = f"; {consequence}" if consequence else ""
    return tuple(f"{resource_ref(as_dict(resource))}: {key} could not be read ({why}){tail}"
                 for key, why in found.items())
