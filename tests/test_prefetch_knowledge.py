"""Prefetch templates ask for exactly the codes of the knowledge's value sets.

The chart recognises a result by the codes of ``cds_service/knowledge/valuesets.json`` (the value
set of each analyte in ``analytes.json``), and a LOINC-coded result outside those value sets is not
matched by its name. So the codes a prefetch template asks the EHR for must be those codes:

- every ``code`` token in a template is ``system|code`` and a code of a value set of the kind the
  resource type holds (Observation: ``lab_``/``obs_``; medications: ``med_``; Condition and
  Procedure: ``problem_``) — a code the chart does not know is a result fetched for nothing;
- a template that asks for one code of a value set asks for all of them — a code left out means
  the EHR never sends results coded that way, and the rules decide as if they did not exist (a
  missed deficiency is a wrong "no card");
- a service that reads lab results at all asks for every lab analyte's value set: the chart and
  the shared assessment (B12 status, blood count, renal function) read every analyte for every
  service.

Templates are read from the registry (``hooks/*.json`` as the service loads them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from helpers import registered_services

from cds_service.knowledge import load_knowledge

KB = load_knowledge()
#: Which value sets a search of each resource type may ask for (valuesets.json names them by kind).
PREFIXES = {"Observation": ("lab_", "obs_"), "MedicationRequest": ("med_",), "MedicationStatement": ("med_",),
            "MedicationAdministration": ("med_",), "Condition": ("problem_",), "Procedure": ("problem_",)}
LAB_VALUE_SETS = sorted({spec.valueSet for spec in KB.analytes.analytes.values()})

Token = tuple[str, str]  # (canonical system, code)


def codes_of(value_set: str) -> set[Token]:
    return {(KB.canonical_system(c.system), c.code) for c in KB.value_sets[value_set].codes}


def code_tokens(template: str) -> list[str]:
    """The ``code`` search parameter's tokens of a template ([] for a read or a search without codes)."""
    if "?" not in template:
        return []
    query = parse_qs(template.split("?", 1)[1])
    return [token for value in query.get("code", []) for token in value.split(",")]


def resource_type(template: str) -> str:
    return re.split(r"[/?]", template, maxsplit=1)[0]


def coded_templates() -> Iterator[tuple[str, str, str]]:
    """(service id, prefetch key, template) of every template with a ``code`` parameter."""
    for service in registered_services():
        for key, template in service.prefetch.items():
            if code_tokens(template):
                yield service.id, key, template


CODED = list(coded_templates())
IDS = [f"{service}.{key}" for service, key, _ in CODED]


def value_sets_holding(token: Token, prefixes: tuple[str, ...]) -> list[str]:
    return [name for name in KB.value_sets if name.startswith(prefixes) and token in codes_of(name)]


def left_out(value_set: str, asked: set[Token]) -> list[str]:
    """The codes of ``value_set`` not in ``asked``, as ``system|code``."""
    return sorted(f"{system}|{code}" for system, code in codes_of(value_set) - asked)


def parse(token: str) -> Token:
    system, bar, code = token.partition("|")
    assert bar and system and code, f"{token!r}: a code without its system matches that code in any system"
    return KB.canonical_system(system), code


def test_the_services_ask_for_coded_results():
    assert CODED, "no prefetch template has a code parameter: this test would check nothing"


@pytest.mark.parametrize(("service", "key", "template"), CODED, ids=IDS)
def test_every_code_a_template_asks_for_is_in_a_value_set_of_its_resource_type(service, key, template):
    prefixes = PREFIXES[resource_type(template)]
    unknown = [token for token in code_tokens(template) if not value_sets_holding(parse(token), prefixes)]
    assert not unknown, f"{service}: prefetch.{key} asks for codes no {'/'.join(prefixes)} value set holds: {unknown}"


@pytest.mark.parametrize(("service", "key", "template"), CODED, ids=IDS)
def test_a_template_asks_for_whole_value_sets(service, key, template):
    asked = {parse(token) for token in code_tokens(template)}
    prefixes = PREFIXES[resource_type(template)]
    touched = {name for token in asked for name in value_sets_holding(token, prefixes)}
    missing = {name: left_out(name, asked) for name in sorted(touched) if left_out(name, asked)}
    assert not missing, f"{service}: prefetch.{key} leaves out codes of its value sets: {missing}"


@pytest.mark.parametrize("service", [s for s in registered_services() if any(
    resource_type(t) == "Observation" for t in s.prefetch.values())], ids=lambda s: s.id)
def test_a_service_that_reads_labs_asks_for_every_lab_analyte(service):
    asked = {parse(token) for template in service.prefetch.values() if resource_type(template) == "Observation"
             for token in code_tokens(template)}
    missing = {name: left_out(name, asked) for name in LAB_VALUE_SETS if left_out(name, asked)}
    assert not missing, f"{service.id}: no prefetch template asks for {missing}"


@pytest.mark.parametrize("service", registered_services(), ids=lambda s: s.id)
def test_a_code_is_asked_for_by_one_template_of_a_service(service):
    seen: dict[Token, str] = {}
    for key, template in service.prefetch.items():
        for token in map(parse, code_tokens(template)):
            assert token not in seen, f"{service.id}: {token} asked for by prefetch.{seen[token]} and .{key}"
            seen[token] = key
