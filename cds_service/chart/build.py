"""ChartData (raw FHIR buckets) -> Chart (typed facts): the chart layer's one entry point."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cds_service.knowledge import Knowledge, load_knowledge

from .facts import Chart, DataSet, LabResult
from .labs import observation_codes, read_labs
from .medications import read_medications
from .patient import read_patient
from .pregnancy import read_pregnancy_tests
from .problems import read_problems

JSON = dict[str, Any]


@dataclass(frozen=True)
class ChartData:
    """Raw FHIR R4 resources for one patient, bucketed by type by the data layer."""

    patient: JSON | None = None
    observations: list[JSON] = field(default_factory=list)
    medication_statements: list[JSON] = field(default_factory=list)
    medication_requests: list[JSON] = field(default_factory=list)
    conditions: list[JSON] = field(default_factory=list)
    procedures: list[JSON] = field(default_factory=list)
    medications: dict[str, JSON] = field(default_factory=dict)  # "Medication/<id>" -> Medication
    draft_orders: list[JSON] = field(default_factory=list)  # resources of the hook's draftOrders
    missing: frozenset[DataSet] = frozenset()  # data sets that could not be had


def _unique(resources: list[JSON]) -> list[JSON]:
    """Return resources without repeats of the same Type/id (a prefetch and a search may overlap).

    Only a string id is a FHIR id: a resource whose ``id`` is anything else (a list or an object answered 500
    here) is kept as it is, and its reader takes it as it takes any other resource without a readable id.
    """
    seen: dict[object, set[str]] = {}  # the ids seen, per type: no (type, id) tuple made per resource
    unique: list[JSON] = []
    for resource in resources:
        rid = resource.get("id") if isinstance(resource, dict) else None
        if isinstance(rid, str):
            kind = resource.get("resourceType")
            ids = seen.get(kind)
            if ids is None:
                ids = seen[kind] = set()
            elif rid in ids:
                continue
            ids.add(rid)
        unique.append(resource)
    return unique


def _newest_first(labs: tuple[LabResult, ...]) -> tuple[LabResult, ...]:
    """Return labs newest first; undated results last (stable otherwise: a reverse sort keeps the order of
    equal dates)."""
    dated = [lab for lab in labs if lab.effective is not None]
    undated = [lab for lab in labs if lab.effective is None] if len(dated) < len(labs) else []
    return (*sorted(dated, key=_EFFECTIVE, reverse=True), *undated)


_EFFECTIVE = operator.attrgetter("effective")


def build_chart(data: ChartData, *, today: date, kb: Knowledge | None = None) -> Chart:
    """Read every resource once into typed facts; problems with the data become notes."""
    kb = kb or load_knowledge()
    patient, patient_notes = read_patient(data.patient)
    observations = _unique(data.observations)
    codes = observation_codes(observations)  # read once for both
    labs, lab_notes = read_labs(observations, kb, codes)
    tests, test_notes = read_pregnancy_tests(observations, kb, codes)
    records = _unique([*data.medication_statements, *data.medication_requests])
    medications, med_notes = read_medications(records, kb, medications=data.medications, today=today)
    drafts, draft_notes = read_medications(
        list(data.draft_orders), kb, medications=data.medications, today=today, is_draft=True
    )
    problems, problem_notes = read_problems(_unique(data.conditions), _unique(data.procedures), kb)
    notes = (*patient_notes, *lab_notes, *med_notes, *draft_notes, *problem_notes, *test_notes)
    return Chart(
        today=today,
        patient=patient,
        labs=_newest_first(labs),
        medications=medications,
        draft_orders=drafts,
        problems=(*problems, *tests),
        missing=frozenset(data.missing),
        notes=tuple(dict.fromkeys(notes)),
    )
