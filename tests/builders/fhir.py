"""Small FHIR R4 builders for the chart and knowledge tests, and charts read from them by the chart layer."""

from __future__ import annotations

from typing import Any

from builders import TODAY
from cds_service.chart import ChartData, build_chart
from cds_service.chart.facts import Chart
from cds_service.knowledge import load_knowledge

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

JSON = dict[str, Any]

#: Route: intramuscular (SNOMED CT).
IM = {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}]}


def kb():
    """Return the package's knowledge (cached)."""
    return load_knowledge()


def quantity(value: object, unit: str | None = None, *, ucum: bool = True, **extra: object) -> JSON:
    """Return a FHIR Quantity; the unit doubles as UCUM code unless ``ucum`` is False."""
    result: JSON = {"value": value}
    if unit is not None:
        result["unit"] = unit
        if ucum:
            result |= {"system": UCUM, "code": unit}
    return result | extra


def observation(
    code: str | None = "2132-9", *, id: str = "obs-1", text: str | None = None, **fields: Any
) -> JSON:
    """Return a final Observation with the given LOINC code (or text only) and fields."""
    concept: JSON = {}
    if code is not None:
        concept["coding"] = [{"system": LOINC, "code": code}]
    if text is not None:
        concept["text"] = text
    base: JSON = {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": concept,
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-03-02",
    }
    return base | fields


def concept(
    system: str | None, code: str | None, display: str | None = None, text: str | None = None
) -> JSON:
    """Return a CodeableConcept with at most one coding."""
    result: JSON = {}
    if code is not None:
        coding: JSON = {"system": system, "code": code}
        if display:
            coding["display"] = display
        result["coding"] = [coding]
    if text is not None:
        result["text"] = text
    return result


#: A folic acid product named in text only, with its strength in the name.
FOLIC_ACID_5MG = concept(None, None, text="Folic acid 5 mg tablet")


def medication_request(
    medication: JSON | None = None, *, id: str = "mr-1", status: str = "active", **fields: Any
) -> JSON:
    """Return a MedicationRequest naming its drug by ``medication`` (a CodeableConcept)."""
    base: JSON = {
        "resourceType": "MedicationRequest",
        "id": id,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/pat-1"},
    }
    if medication is not None:
        base["medicationCodeableConcept"] = medication
    return base | fields


def medication_statement(
    medication: JSON | None = None, *, id: str = "ms-1", status: str = "active", **fields: Any
) -> JSON:
    """Return a MedicationStatement naming its drug by ``medication`` (a CodeableConcept)."""
    base: JSON = {
        "resourceType": "MedicationStatement",
        "id": id,
        "status": status,
        "subject": {"reference": "Patient/pat-1"},
    }
    if medication is not None:
        base["medicationCodeableConcept"] = medication
    return base | fields


def dose(
    value: float, unit: str, *, frequency: int = 1, period: float = 1, period_unit: str = "d", **extra: Any
) -> JSON:
    """Return a Dosage with a doseQuantity and a repeat timing."""
    return {
        "timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": period_unit}},
        "doseAndRate": [{"doseQuantity": quantity(value, unit)}],
        **extra,
    }


def condition(
    code_concept: JSON,
    *,
    id: str = "cond-1",
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    **fields: Any,
) -> JSON:
    """Return a Condition with the given code and statuses (None leaves a status out)."""
    base: JSON = {
        "resourceType": "Condition",
        "id": id,
        "code": code_concept,
        "subject": {"reference": "Patient/pat-1"},
    }
    if clinical is not None:
        base["clinicalStatus"] = {"coding": [{"system": CONDITION_CLINICAL, "code": clinical}]}
    if verification is not None:
        base["verificationStatus"] = {"coding": [{"system": CONDITION_VERIFICATION, "code": verification}]}
    return base | fields


def procedure(code_concept: JSON, *, id: str = "proc-1", status: str = "completed", **fields: Any) -> JSON:
    """Return a Procedure with the given code and status."""
    return {
        "resourceType": "Procedure",
        "id": id,
        "status": status,
        "code": code_concept,
        "subject": {"reference": "Patient/pat-1"},
    } | fields


def daily(amount: float, unit: str | None = "tablet", **extra: Any) -> JSON:
    """One dosage line: ``amount`` of ``unit`` once a day, unit as written (no UCUM code; None: a bare count)."""
    quantity_: JSON = {"value": amount} | ({"unit": unit} if unit else {})
    return {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": quantity_}], **extra}


def draft_order(medication: JSON, *, id: str, status: str = "draft", **fields: Any) -> JSON:
    """Return a MedicationRequest proposal as an EHR sends it in ``draftOrders``."""
    return medication_request(medication, id=id, status=status, intent="proposal", **fields)


def b12_observation(value: float, unit: str = "ng/L", *, id: str = "b12-low", **fields: Any) -> JSON:
    """Return a final serum B12 result (LOINC 2132-9) of ``value`` ``unit``."""
    return observation("2132-9", id=id, valueQuantity=quantity(value, unit), **fields)


def patient(gender: str | None = "female", birth_date: str | None = "1990-05-01", *, id: str = "pat-1",
            **fields: Any) -> JSON:
    """Return a Patient resource (None leaves gender or birthDate out)."""
    result: JSON = {"resourceType": "Patient", "id": id}
    if gender is not None:
        result["gender"] = gender
    if birth_date is not None:
        result["birthDate"] = birth_date
    return result | fields


def chart_from_fhir(**data: Any) -> Chart:
    """Read a chart for TODAY from FHIR resources (ChartData fields) through the chart layer.

    (``builders.facts.chart`` builds a chart from facts directly, for the rules and cards.)
    """
    return build_chart(ChartData(**data), today=TODAY, kb=kb())


def only_lab(*observations: JSON) -> Any:
    """Return the single LabResult read from ``observations``."""
    built = chart_from_fhir(observations=list(observations))
    assert len(built.labs) == 1, built
    return built.labs[0]
