"""FHIR R4 resources for suggestions (B12-RULES.md §6): templates checked once against fhir.resources.R4B."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..knowledge import Knowledge
from ..knowledge.clinical import CodedConcept, LabTest, RegimenStep
from .context import CardContext

UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_UNIT_NAMES = {"mg": "mg", "ug": "µg"}
_WEEKS = {"value": None, "unit": "weeks", "system": UCUM, "code": "wk"}
_PRODUCT_FOR_ROUTE = {"intramuscular": "hydroxocobalamin_injection", "oral": "cyanocobalamin_oral"}


class SuggestedResourceError(ValueError):
    """A suggested resource failed validation against the FHIR R4 model: a bug, never sent."""


def _common(ctx: CardContext) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": "draft", "intent": "proposal",
                              "subject": {"reference": f"Patient/{ctx.patient_id}"}}
    if ctx.encounter_id:
        fields["encounter"] = {"reference": f"Encounter/{ctx.encounter_id}"}
    if ctx.user_id and ctx.user_id.split("/")[0] in ("Practitioner", "PractitionerRole"):
        fields["requester"] = {"reference": ctx.user_id}
    return fields


def medication_request(step: RegimenStep, ctx: CardContext, kb: Knowledge) -> dict[str, Any]:
    """One phase of a B12 regimen as a draft MedicationRequest (§6), from its template."""
    return _templates(kb).resources[step](_common(ctx))


def service_request(test: LabTest, ctx: CardContext, kb: Knowledge) -> dict[str, Any]:
    """A draft laboratory ServiceRequest coded with LOINC (§6), from its template."""
    return _templates(kb).resources[test](_common(ctx))


def prepare_suggestions(kb: Knowledge) -> None:
    """Build and validate the template of every resource the cards can suggest (at start-up).

    :raises SuggestedResourceError: a template is not valid FHIR R4 (a bug or a bad knowledge file).
    """
    _templates(kb)


#: A suggested resource's template: given this call's references (``_common``), the whole resource, made afresh.
Template = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class _Templates:
    """Each suggested resource's template (validated once), and each create action's fixed parts."""

    resources: dict[RegimenStep | LabTest, Template]
    #: regimen key -> per phase (resource template, action description)
    regimens: dict[str, tuple[tuple[Template, str], ...]]
    #: lab test key -> (resource template, action description)
    tests: dict[str, tuple[Template, str]]


#: id(kb) -> (kb, templates), built once per knowledge object.
_TEMPLATES: dict[int, tuple[Knowledge, _Templates]] = {}
#: Stand-ins for the per-call references while a template is validated (all three present).
_EXAMPLE_CONTEXT = {"status": "draft", "intent": "proposal", "subject": {"reference": "Patient/example"},
                    "encounter": {"reference": "Encounter/example"},
                    "requester": {"reference": "Practitioner/example"}}


def _templates(kb: Knowledge) -> _Templates:
    cached = _TEMPLATES.get(id(kb))
    if cached is None or cached[0] is not kb:
        bodies: dict[RegimenStep | LabTest, tuple[str, dict[str, Any]]] = {}
        for regimen in kb.regimens.values():
            for step in regimen.steps:
                bodies[step] = ("MedicationRequest", _medication_body(step, kb))
        for test in kb.lab_tests.values():
            bodies[test] = ("ServiceRequest", _service_body(test, kb))
        resources = {key: _template(resource_type, body) for key, (resource_type, body) in bodies.items()}
        check_against_fhir_model([{"resourceType": resource_type, **_EXAMPLE_CONTEXT, **body}
                                  for resource_type, body in bodies.values()])
        regimens = {key: tuple((resources[step], _phase(i, kb.medications[_PRODUCT_FOR_ROUTE[step.route]].text,
                                                        step.text))
                               for i, step in enumerate(regimen.steps))
                    for key, regimen in kb.regimens.items()}
        tests = {key: (resources[test], f"Order {test.text}") for key, test in kb.lab_tests.items()}
        cached = _TEMPLATES[id(kb)] = (kb, _Templates(resources, regimens, tests))
    return cached[1]


def _template(resource_type: str, body: dict[str, Any]) -> Template:
    """The resource made afresh for each call: ``{"resourceType": ..., **references, **<the body>}``.

    Why a JSON copy: each call needs its own (a response shares no nested dict with the next call's), and
    orjson parses the 1 KB template in about 2 µs. The body must be JSON as it stands (a tuple would come back
    a list): anything else raises TypeError at start-up.

    Why no validation per call: the references are the only per-call parts, and the request models have
    already checked the ids they are made of (FHIR id, ``Type/id``); the rest was validated at start-up.
    """
    blob = orjson.dumps(body)  # orjson.JSONEncodeError, a TypeError, for bytes, non-string keys and the like
    if orjson.loads(blob) != body:
        raise TypeError(f"a suggested resource's template holds JSON values only: {body!r}")
    return lambda references: {"resourceType": resource_type, **references, **orjson.loads(blob)}


def _medication_body(step: RegimenStep, kb: Knowledge) -> dict[str, Any]:
    product = kb.medications[_PRODUCT_FOR_ROUTE[step.route]]
    medication: dict[str, Any] = {"text": product.text}
    if product.rxnorm:  # only verified codes are sent (docs/terminology.md); text always
        coding = {"system": RXNORM, "code": product.rxnorm}
        if product.rxnormDisplay:
            coding["display"] = product.rxnormDisplay
        medication["coding"] = [coding]
    route = kb.routes[step.route]
    repeat: dict[str, Any] = {"frequency": step.frequency, "period": _number(step.period),
                              "periodUnit": step.period_unit}
    if step.bounds_weeks:
        repeat["boundsDuration"] = {**_WEEKS, "value": step.bounds_weeks}
    reason = kb.deficiency_reason
    return {
        "medicationCodeableConcept": medication,
        "reasonCode": [{"coding": [_coding(reason)], "text": "Vitamin B12 deficiency"}],
        "dosageInstruction": [{
            "text": step.text,
            "timing": {"repeat": repeat},
            "route": {"coding": [_coding(route)], "text": route.display},
            "doseAndRate": [{"doseQuantity": {
                "value": _number(step.dose_value), "unit": _UNIT_NAMES[step.dose_unit],
                "system": UCUM, "code": step.dose_unit}}],
        }],
    }


def _service_body(test: LabTest, kb: Knowledge) -> dict[str, Any]:
    return {"category": [{"coding": [_coding(kb.lab_category)]}],
            "code": {"coding": [_coding(test)], "text": test.text}}


def _number(value: float) -> int | float:
    """1.0 -> 1: FHIR decimals read better without a spurious fraction."""
    return int(value) if float(value).is_integer() else value


def _coding(concept: CodedConcept) -> dict[str, str]:
    return {"system": concept.system, "code": concept.code, "display": concept.display}


#: The checker, run as a child process: ``fhir_check.py`` (why a child: its docstring).
_CHECKER = Path(__file__).with_name("fhir_check.py")
#: Start-up waits this long for the checker (it takes about half a second).
_CHECK_TIMEOUT_S = 120


def check_against_fhir_model(resources: list[dict[str, Any]]) -> None:
    """Check the resources against the R4 model, and for empty elements, in a child process (once per
    knowledge object: ``_templates`` keeps what it built).

    :raises SuggestedResourceError: a resource is not valid FHIR R4 (a bug in this module or a bad knowledge
        file), every problem named; or the checker could not run, which stops start-up the same way: a
        suggestion is never sent unchecked.
    """
    try:
        child = subprocess.run([sys.executable, "-I", str(_CHECKER)], input=orjson.dumps(resources),
                               capture_output=True, timeout=_CHECK_TIMEOUT_S, check=False)
        if child.returncode != 0:
            last = child.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise SuggestedResourceError(f"the FHIR R4 check of the suggested resources failed "
                                         f"(exit status {child.returncode}): {last[0]}")
        found = orjson.loads(child.stdout)
    except (OSError, subprocess.SubprocessError, orjson.JSONDecodeError) as exc:
        raise SuggestedResourceError(f"the FHIR R4 check of the suggested resources could not run: {exc}") from exc
    problems = [problem for resource_problems in found for problem in resource_problems]
    if len(found) != len(resources) or problems:
        raise SuggestedResourceError("; ".join(problems) or "the FHIR R4 check answered for the wrong resources")


#: A suggestion's fields (label, uuid, isRecommended, actions), validated as part of its card: one pydantic
#: call per card instead of one per suggestion and per action (issue #12); the same checks run.
SuggestionFields = dict[str, Any]


def regimen_suggestion(label: str, regimen: str, ctx: CardContext, kb: Knowledge, *,
                       recommended: bool) -> SuggestionFields:
    """All phases of a regimen (loading + maintenance) as one suggestion: one create per phase.

    Why (B12-RULES.md §9): the dosage text is dose, route, frequency, duration; the action description
    also names the product, and the phase after the first says it follows it (``_phase``).
    """
    actions = [{"type": "create", "description": description, "resource": template(_common(ctx))}
               for template, description in _templates(kb).regimens[regimen]]
    return {"label": label, "uuid": ctx.new_uuid(), "isRecommended": recommended, "actions": actions}


def _phase(index: int, product: str, dosage: str) -> str:
    """"Hydroxocobalamin ...: 1 mg ..." for the first phase, "Then hydroxocobalamin ...: ..." after it."""
    return f"Then {product[0].lower()}{product[1:]}: {dosage}" if index else f"{product}: {dosage}"


def lab_suggestion(label: str, tests: tuple[str, ...], ctx: CardContext, kb: Knowledge, *,
                   recommended: bool) -> SuggestionFields:
    """One or more laboratory orders as one suggestion."""
    templates = _templates(kb).tests
    actions = [{"type": "create", "description": description, "resource": template(_common(ctx))}
               for template, description in (templates[t] for t in tests)]
    return {"label": label, "uuid": ctx.new_uuid(), "isRecommended": recommended, "actions": actions}


def delete_suggestion(label: str, drafts: tuple[tuple[str, str], ...], ctx: CardContext) -> SuggestionFields:
    """Remove draft orders (CDS Hooks delete action, resourceId "MedicationRequest/<id>").

    ``drafts`` holds (reference, name as the EHR shows it); the description names the order.
    """
    actions = [{"type": "delete", "description": f"Remove the draft order: {' '.join(name.split())}",
                "resourceId": ref} for ref, name in drafts]
    return {"label": label, "uuid": ctx.new_uuid(), "isRecommended": False, "actions": actions}
