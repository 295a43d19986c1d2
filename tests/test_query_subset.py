"""Prefetch templates stay inside the CDS Hooks 2.0 query subset (conformance row 36)."""

from __future__ import annotations

import json

import pytest
from helpers import accept_any_cards

from cds_service.errors import ConfigError
from cds_service.query_subset import check_query_subset
from cds_service.registry import default_hooks_dir, load_registry


@pytest.mark.parametrize("template", [
    "Patient/{{context.patientId}}",
    "Practitioner/{{userPractitionerId}}",
    "Observation?patient={{context.patientId}}&code=http://loinc.org|2132-9,http://loinc.org|14685-2",
    "Observation?subject=Patient/{{context.patientId}}&code:in=http://example.org/ValueSet/b12",
    "Observation?patient={{context.patientId}}&date=ge2024-01-01&_sort=-date&_count=100",
    "MedicationRequest?patient={{context.patientId}}&status=active,on-hold&authoredon=lt2026-09-01T00:00:00Z",
    "Condition?patient={{context.patientId}}",
    "Observation?",
])
def test_templates_inside_the_subset_are_accepted(template):
    check_query_subset(template)


@pytest.mark.parametrize(("template", "message"), [
    ("Observation?patient={{context.patientId}}&_include=Observation:subject", "'_include' is outside"),
    ("Patient?_has:Observation:patient:code=2132-9", "'_has:Observation:patient:code' is outside"),
    ("Observation?patient.name=smith", "'patient.name' is outside"),
    ("Observation?patient={{context.patientId}}&value-quantity=gt5", "'value-quantity' is outside"),
    ("Observation?patient={{context.patientId}}&code:text=b12", "modifier ':text'"),
    ("Observation?patient={{context.patientId}}&date=ne2024-01-01", "only the eq, lt, gt, ge and le"),
    ("Observation?patient={{context.patientId}}&date=ap2024", "only the eq, lt, gt, ge and le"),
    ("Observation?patient={{context.patientId}}&_count=all", "_count='all' must be a positive integer"),
    ("Observation?patient={{context.patientId}}&_sort=-value", "sort only by a listed search parameter"),
    ("Observation?patient=Patient/1/_history/2", "not a plain resource reference"),
    ("Observation?patient={{context.patientId}}&_elements=code", "'_elements' is outside"),
    ("Patient/{{context.patientId}}/$everything", "instance read must be 'Type/id'"),
    ("Patient/{{context.patientId}}/Observation?code=2132-9", "no compartment or operation paths"),
    ("Observation?patient=", "has no value"),
])
def test_templates_outside_the_subset_are_refused_naming_the_part(template, message):
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("(", r"\(")):
        check_query_subset(template)


def test_the_shipped_templates_are_inside_the_subset():
    for path in sorted(default_hooks_dir().glob("*.json")):
        for template in json.loads(path.read_text())["prefetch"].values():
            check_query_subset(template)


def test_a_definition_outside_the_subset_stops_start_up_naming_file_and_key(tmp_path):
    for path in default_hooks_dir().glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    definition = json.loads((tmp_path / "b12-status.json").read_text())
    definition["prefetch"]["conditions"] += "&_revinclude=Provenance:target"
    (tmp_path / "b12-status.json").write_text(json.dumps(definition))
    with pytest.raises(ConfigError, match=r"b12-status\.json: prefetch\.conditions: '_revinclude' is outside"):
        load_registry(tmp_path, accept_any_cards())
