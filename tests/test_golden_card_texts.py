"""What a clinician reads on every golden card (B12-RULES.md §9): public sources, plain durations, short text.

Reads every card of every golden response (fhir_fixtures/*/*.response.json): its summary, detail,
source label, suggestion labels, action descriptions, every text of a suggested resource (dosage
text, notes), override reasons and link labels. A failure names the scenario, the service, the
card and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import FIXTURES, load_json

from cds_service.protocol.response import SUMMARY_MAX

DETAIL_MAX = 1000  # B12-RULES.md §9: every card under 1,000 characters of markdown
INTERNAL = re.compile(r"seed|B12-RULES|§|\.md\b", re.IGNORECASE)
DAYS = re.compile(r"(\d[\d,]*)\s*days?\b", re.IGNORECASE)
RAW_FLOAT = re.compile(r"\d\.\d{4,}")  # "146.58935040100175": not as a lab prints it


def _resource_texts(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every human-readable text of a suggested resource: ``text``, ``note[].text``, ``display`` excluded."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield f"{path}.text", value
            else:
                yield from _resource_texts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _resource_texts(value, f"{path}[{i}]")


def card_texts(card: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, text) for everything on a card that a clinician or an order shows."""
    yield "summary", card["summary"]
    yield "detail", card.get("detail", "")
    yield "source.label", card["source"]["label"]
    for i, suggestion in enumerate(card.get("suggestions", [])):
        yield f"suggestions[{i}].label", suggestion["label"]
        for j, action in enumerate(suggestion.get("actions", [])):
            yield f"suggestions[{i}].actions[{j}].description", action.get("description", "")
            yield from _resource_texts(action.get("resource", {}), f"suggestions[{i}].actions[{j}].resource")
    for i, reason in enumerate(card.get("overrideReasons", [])):
        yield f"overrideReasons[{i}].display", reason.get("display", "")
    for i, link in enumerate(card.get("links", [])):
        yield f"links[{i}].label", link["label"]


def problems(card: dict[str, Any]) -> list[str]:
    """What is wrong with one card's text, field by field (empty when it reads well)."""
    found = []
    for field, text in card_texts(card):
        if match := INTERNAL.search(text):
            found.append(f"{field}: internal reference {match.group(0)!r}")
        for days in DAYS.findall(text):
            if int(days.replace(",", "")) > 365:
                found.append(f"{field}: duration as {days} days")
        if match := RAW_FLOAT.search(text):
            found.append(f"{field}: unrounded number {match.group(0)!r}")
    if len(card["summary"]) >= SUMMARY_MAX:
        found.append(f"summary: {len(card['summary'])} characters (must be under {SUMMARY_MAX})")
    if len(card.get("detail", "")) >= DETAIL_MAX:
        found.append(f"detail: {len(card['detail'])} characters (must be under {DETAIL_MAX})")
    return found


def golden_cards() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(FIXTURES.glob("*/*.response.json")):
        for i, card in enumerate(load_json(path)["cards"]):
            kind = (card["source"].get("topic") or {}).get("code", "?")
            yield f"{path.parent.name} / {path.name.removesuffix('.response.json')} / card {i} ({kind})", card


def test_every_golden_card_reads_as_a_clinician_needs_it():
    cards = list(golden_cards())
    assert len(cards) > 50  # the fixtures were read
    failures = [f"{where}: {problem}" for where, card in cards for problem in problems(card)]
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize(("change", "expected"), [
    ({"detail": "Rule: B12-RULES.md §5 (seed 002)"}, "internal reference"),
    ({"detail": "metformin, current, 12505 days"}, "duration as 12505 days"),
    ({"detail": "eGFR 146.58935040100175 mL/min"}, "unrounded number"),
    ({"detail": "x" * 1000}, "detail: 1000 characters"),
    ({"summary": "s" * 140}, "summary: 140 characters"),
    ({"suggestions": [{"label": "Order", "actions": [{"description": "d", "resource": {
        "dosageInstruction": [{"text": "every 3 months (seed 002: every 2-3 months)"}]}}]}]},
     "suggestions[0].actions[0].resource.dosageInstruction[0].text: internal reference"),
    ({"overrideReasons": [{"display": "see B12-RULES"}]}, "overrideReasons[0].display: internal reference"),
])
def test_the_check_names_what_broke(change, expected):
    card = {"summary": "B12 deficiency", "detail": "Treat.", "source": {"label": "NICE NG239"}} | change
    assert any(expected in problem for problem in problems(card)), problems(card)


def test_a_plain_card_passes():
    card = {"summary": "B12 deficiency: treat", "detail": "Metformin taken for 5 years; 14 months; 6 weeks; 10 days",
            "source": {"label": "NICE NG239"}, "links": [{"label": "BNF: hydroxocobalamin"}]}
    assert problems(card) == []
