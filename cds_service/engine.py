"""Glue between data access and the clinical layers: resolved data -> Chart -> evaluator -> cards."""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from typing import Any

from .cards import CardContext, render_cards, validate_card_texts
from .chart import ChartData, build_chart
from .chart.facts import Chart
from .data.prefetch import PatientData
from .knowledge import Knowledge, load_knowledge
from .protocol.request import OrderSelectContext, ParsedCall
from .protocol.response import Card
from .registry import ServiceDefinition
from .rules.decision import Call
from .rules.services import rule_module, rule_modules

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def card_text_validators() -> dict[str, Callable[..., Any]]:
    """Return, per rule module, the start-up check of a service's card texts."""
    return {name: functools.partial(validate_card_texts, name) for name in rule_modules()}


def chart_data(data: PatientData, service: ServiceDefinition) -> ChartData:
    """Bucket the resolved resources by type for the chart layer; missing keys become data sets."""
    buckets: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in data.resources():
        buckets[resource["resourceType"]].append(resource)
    patients = buckets["Patient"]
    return ChartData(
        patient=patients[0] if patients else None,
        observations=buckets["Observation"],
        medication_statements=buckets["MedicationStatement"],
        medication_requests=buckets["MedicationRequest"],
        conditions=buckets["Condition"],
        procedures=buckets["Procedure"],
        medications=dict(data.medications),
        draft_orders=list(data.draft_orders),
        missing=frozenset(service.data_sets[key] for key in data.missing if key in service.data_sets),
    )


def evaluate(service: ServiceDefinition, call: ParsedCall, data: PatientData, *, today: date,
             new_uuid: Callable[[], str]) -> list[Card]:
    """Read the chart, run the service's rule module, render its decisions critical > warning > info."""
    kb = load_knowledge()
    chart = build_chart(chart_data(data, service), today=today, kb=kb)
    if data.notes:
        chart = dataclasses.replace(chart, notes=(*chart.notes, *data.notes))
    context = call.context
    card_context = CardContext(
        service_id=service.id,
        hook=service.hook,
        patient_id=context.patientId,
        encounter_id=context.encounterId,
        user_id=context.userId,
        selections=context.selected_references if isinstance(context, OrderSelectContext) else (),
        texts=service.parsed_card_texts if service.parsed_card_texts is not None else service.card_texts,
        new_uuid=new_uuid,
    )
    return cards_for(service, chart, card_context, kb)


def cards_for(service: ServiceDefinition, chart: Chart, ctx: CardContext, kb: Knowledge | None = None) -> list[Card]:
    """The service's cards for a chart: its rule module decides, the cards layer renders (one knowledge
    object, passed down explicitly)."""
    kb = kb or load_knowledge()
    decisions = rule_module(service.evaluator).decide(
        chart, kb, Call(hook=service.hook, selections=ctx.selections, parameters=service.parameters))
    cards = render_cards(service.evaluator, decisions, ctx, kb)
    # An indicator is held as its text (``use_enum_values``); a StrEnum (a card changed by model_copy) is the same key.
    return sorted(cards, key=lambda card: SEVERITY_ORDER[card.indicator])
