"""Patient -> the few demographics the rules use."""

from __future__ import annotations

from fhir.resources.R4B.patient import Patient as PatientModel

from .facts import Patient
from .fhir_types import as_str, parse_fhir_date, unreadable_note, validation_problem


def read_patient(resource: object) -> tuple[Patient | None, tuple[str, ...]]:
    """Return the Patient fact (birthDate may be partial: "1950", "1950-03") and chart notes.

    Why an invalid Patient is still read: age and sex steer the anaemia limits and the risk
    factors (B12-RULES.md §4), and the three fields are read defensively; the clinician is
    told the record did not validate.
    """
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        return None, ()
    problem = validation_problem(resource, PatientModel)
    notes = (unreadable_note(resource, problem),) if problem else ()
    patient = Patient(
        id=as_str(resource.get("id")) or "",
        sex=as_str(resource.get("gender")),
        birth_date=parse_fhir_date(resource.get("birthDate")),
    )
    return patient, notes
