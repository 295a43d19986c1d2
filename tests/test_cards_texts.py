"""Card texts in hooks/*.json: validated at start-up, bad fields named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import registered_services

from cds_service.cards import EVALUATORS, CardContext, validate_card_texts

HOOKS = Path(__file__).parents[1] / "hooks"


def _block(name):
    return json.loads((HOOKS / f"{name}.json").read_text("utf-8"))["x-b12cds"]


@pytest.mark.parametrize("name", [service.id for service in registered_services()])
def test_hooks_card_texts_are_valid(name):
    block = _block(name)
    assert block["evaluator"] in EVALUATORS
    validate_card_texts(block["evaluator"], block["cards"])


def test_every_text_entry_names_its_source():
    texts = _block("b12-status")["cards"]
    for group in ("kinds", "suggestions", "overrideReasons"):
        for key, entry in texts[group].items():
            assert entry["source"], f"{group}.{key}"


def test_missing_kind_is_named():
    texts = copy.deepcopy(_block("b12-status")["cards"])
    del texts["kinds"]["deficient_neuro"]
    with pytest.raises(ValueError, match=r"kinds.deficient_neuro: missing"):
        validate_card_texts("b12_status", texts)


def test_missing_summary_is_named():
    texts = copy.deepcopy(_block("folic-acid-safety-sign")["cards"])
    del texts["kinds"]["folate_deficient"]["summary"]
    with pytest.raises(ValueError, match=r"kinds.folate_deficient.summary"):
        validate_card_texts("folic_acid_safety", texts)


def test_unknown_placeholder_is_named():
    texts = copy.deepcopy(_block("b12-status")["cards"])
    texts["kinds"]["deficient"]["detail"] += " {patient_name}"
    with pytest.raises(ValueError, match=r"kinds.deficient.detail: unknown placeholder"):
        validate_card_texts("b12_status", texts)


def test_unknown_link_and_override_reason_are_named():
    texts = copy.deepcopy(_block("b12-status")["cards"])
    texts["kinds"]["deficient"]["links"] = ["nowhere"]
    with pytest.raises(ValueError, match=r"kinds.deficient.links"):
        validate_card_texts("b12_status", texts)
    texts = copy.deepcopy(_block("b12-status")["cards"])
    texts["kinds"]["deficient"]["overrideReasons"] = ["because"]
    with pytest.raises(ValueError, match=r"kinds.deficient.overrideReasons"):
        validate_card_texts("b12_status", texts)


def test_too_long_summary_is_refused():
    texts = copy.deepcopy(_block("b12-status")["cards"])
    texts["kinds"]["deficient"]["summary"] = "x" * 140
    with pytest.raises(ValueError, match=r"kinds.deficient.summary"):
        validate_card_texts("b12_status", texts)


def test_unknown_evaluator_is_refused():
    with pytest.raises(ValueError, match=r"unknown evaluator"):
        validate_card_texts("nope", {})


def test_card_context_is_frozen():
    ctx = CardContext("s", "patient-view", "p", None, None, (), {}, lambda: "u")
    with pytest.raises(AttributeError):
        ctx.patient_id = "q"  # type: ignore[misc]
