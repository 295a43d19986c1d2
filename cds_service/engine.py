"""Glue between data access and the clinical layers: resolved data -> Chart -> evaluator -> cards."""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from .cards import EVALUATORS, CardContext, Evaluator, validate_card_texts
from .chart import ChartData, build_chart
from .data.prefetch import PatientData
from .protocol.request import OrderSelectContext, ParsedCall
from .protocol.response import Card, Indicator
from .registry import ServiceDefinition

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def card_text_validators(evaluators: Mapping[str, Evaluator] = EVALUATORS) -> dict[str, Callable[..., None]]:
    """Return, per evaluator name, the start-up check of a service's card texts."""
    return {name: functools.partial(validate_card_texts, name) for name in evaluators}


def chart_data(data: PatientData) -> ChartData:
    """Bucket the resolved resources by type for the chart layer."""
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
        missing=frozenset(data.missing),
    )


def evaluate(service: ServiceDefinition, call: ParsedCall, data: PatientData, *, today: date,
             new_uuid: Callable[[], str], evaluators: Mapping[str, Evaluator] = EVALUATORS) -> list[Card]:
    """Read the chart, run the service's evaluator, and order the cards critical > warning > info."""
    chart = build_chart(chart_data(data), today=today)
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
    cards = evaluators[service.evaluator](chart, card_context)
    return sorted(cards, key=lambda card: SEVERITY_ORDER[Indicator(card.indicator).value])
