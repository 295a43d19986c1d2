"""Patient -> the few demographics the rules use."""

from __future__ import annotations

from .elements import unreadable, unreadable_notes
from .facts import Patient
from .fhir_types import as_str, parse_fhir_date


def read_patient(resource: object) -> tuple[Patient | None, tuple[str, ...]]:
    """Return the Patient fact (birthDate may be partial: "1950", "1950-03") and chart notes.

    Why only four elements are checked: age and sex steer the anaemia limits and the risk
    factors (B12-RULES.md §4), and a deceased patient gets no patient-view card (§7); any other
    defect in the record changes nothing and is not mentioned (§7, tolerant reading).
    """
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return None, ()
    defects = unreadable(resource)
    patient = Patient(
        id=as_str(resource.get("id")) or "",
        sex=as_str(resource.get("gender")),
        birth_date=parse_fhir_date(resource.get("birthDate")),
        # Why: only a readable death counts; an unreadable one keeps the cards (the cautious side).
        deceased=resource.get("deceasedBoolean") is True
        or parse_fhir_date(resource.get("deceasedDateTime")) is not None,
    )
    return patient, unreadable_notes(resource, defects)
