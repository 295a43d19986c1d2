"""Cards run from chart facts for the card tests, and the checks every card must pass."""

from __future__ import annotations

from itertools import count

from cds_service.chart.facts import Chart


def card_context(service: str, *, selections: tuple[str, ...] = (), encounter: str | None = "enc-1"):
    """A CardContext for one of the services in hooks/*.json, with counting uuids (stable goldens)."""
    from helpers import service_definition

    from cds_service.cards import CardContext

    definition = service_definition(service)
    ids = count(1)
    return definition.evaluator, CardContext(
        service_id=service,
        hook=definition.hook,
        patient_id="p1",
        encounter_id=encounter,
        user_id="Practitioner/dr-1",
        selections=selections,
        texts=definition.card_texts,
        new_uuid=lambda: f"00000000-0000-4000-8000-{next(ids):012d}",
    )


def run(service: str, c: Chart, *, selections: tuple[str, ...] = ()):
    """The service's cards for a chart: its rule module decides, the generic renderer renders."""
    from helpers import service_definition

    from cds_service.engine import cards_for

    _, ctx = card_context(service, selections=selections)
    return cards_for(service_definition(service), c, ctx)


def checked_cards(service: str, c: Chart, *, selections: tuple[str, ...] = ()):
    """The service's cards for a chart, each checked with ``assert_card_basics``."""
    cards = run(service, c, selections=selections)
    for card in cards:
        assert_card_basics(card)
    return cards


def assert_resources_valid(card) -> None:
    """Every suggested resource validates with fhir.resources.R4B and has no empty elements."""
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.servicerequest import ServiceRequest

    models = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}
    for suggestion in card.suggestions:
        for action in suggestion.actions:
            if action.type == "create":
                resource = action.resource
                models[resource["resourceType"]].model_validate(resource)
                assert resource["status"] == "draft" and resource["intent"] == "proposal"
                assert resource["subject"] == {"reference": "Patient/p1"}
                _assert_no_empties(resource)


def _assert_no_empties(node) -> None:
    assert node not in (None, "", [], {})
    if isinstance(node, dict):
        for value in node.values():
            _assert_no_empties(value)
    elif isinstance(node, list):
        for value in node:
            _assert_no_empties(value)


def assert_card_basics(card) -> None:
    from cds_service.protocol.response import to_json

    assert len(card.summary) < 140
    assert card.overrideReasons and all(r.display for r in card.overrideReasons)
    assert all(str(link.url).startswith("https://") for link in card.links)
    assert str(card.source.url).startswith("https://")
    assert_resources_valid(card)
    to_json(card)  # serialises without nulls
