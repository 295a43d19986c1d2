"""The response models emit no null or empty element by construction (CDS Hooks 2.0 §Card Attributes)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cds_service.protocol.response import Action, Card, CDSResponse, Coding, Link, Source, Suggestion, to_json


def _empties(node: Any, path: str = "") -> list[str]:
    """Every path in a dumped response whose value is null or empty."""
    if node is None or node == "" or node == [] or node == {}:
        return [path]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _empties(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _empties(value, f"{path}[{i}]")]
    return []


def test_a_bare_card_dumps_only_what_it_holds() -> None:
    card = Card(uuid="c-1", summary="Check B12", indicator="info", source=Source(label="NICE"))
    body = to_json(CDSResponse(cards=[card]))
    assert body == {"cards": [{"uuid": "c-1", "summary": "Check B12", "indicator": "info",
                               "source": {"label": "NICE"}}]}


def test_a_full_card_keeps_false_and_required_defaults_and_has_no_empties() -> None:
    action = Action(type="create", description="Order MMA",
                    resource={"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal"})
    card = Card(uuid="c-1", summary="Order MMA", detail="**Why**", indicator="warning",
                source=Source(label="NICE", url="https://www.nice.org.uk/guidance/ng239",
                              topic=Coding(system="https://example.org/kinds", code="indeterminate")),
                suggestions=[Suggestion(label="Order MMA", uuid="s-1", isRecommended=False, actions=[action])],
                selectionBehavior="any",
                overrideReasons=[Coding(system="https://example.org/reasons", code="done", display="Done")],
                links=[Link(label="NICE NG239", url="https://www.nice.org.uk/guidance/ng239", type="absolute")])
    dumped = to_json(CDSResponse(cards=[card]))["cards"][0]
    assert _empties(dumped) == []
    assert dumped["suggestions"][0]["isRecommended"] is False  # False is a value, not an empty
    assert dumped["links"][0]["type"] == "absolute"  # required by CDS Hooks although it is the usual value
    assert "display" not in dumped["source"]["topic"]


@pytest.mark.parametrize("fields", [{"detail": ""}, {"summary": ""}, {"uuid": ""}])
def test_empty_text_is_refused_rather_than_sent(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Card(**{"uuid": "c-1", "summary": "Check B12", "indicator": "info", "source": Source(label="NICE"),
                **fields})


def test_shared_parts_cannot_be_changed_by_one_card() -> None:
    """Source, codings and links are built once per card kind and shared: they are frozen."""
    link = Link(label="NICE NG239", url="https://www.nice.org.uk/guidance/ng239", type="absolute")
    with pytest.raises(ValidationError):
        link.label = "changed"  # type: ignore[misc]


def test_no_golden_response_holds_an_empty_element() -> None:
    """What the fixtures' goldens pin (tests/test_fixtures.py) has no null or empty element either."""
    from pathlib import Path

    import orjson

    goldens = sorted(Path(__file__).resolve().parent.parent.glob("fhir_fixtures/*/*.response.json"))
    assert len(goldens) > 100
    for golden in goldens:
        for card in orjson.loads(golden.read_bytes())["cards"]:
            assert _empties(card) == [], golden.name
