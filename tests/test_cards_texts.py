"""Card texts in hooks/*.json: validated at start-up, bad fields named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import accept_any_cards, registered_services, service_definition

from cds_service.cards import CardContext, validate_card_texts
from cds_service.errors import ConfigError
from cds_service.registry import load_registry
from cds_service.rules.services import rule_modules

HOOKS = Path(__file__).parents[1] / "hooks"


def _block(name):
    """The service's card texts as the registry merged them (shared blocks included)."""
    definition = service_definition(name)
    return {"evaluator": definition.evaluator, "cards": definition.card_texts}


@pytest.mark.parametrize("name", [service.id for service in registered_services()])
def test_hooks_card_texts_are_valid(name):
    block = _block(name)
    assert block["evaluator"] in rule_modules()
    validate_card_texts(block["evaluator"], block["cards"])


def test_folic_acid_select_and_sign_name_one_shared_block_of_texts():
    raw = {name: json.loads((HOOKS / f"{name}.json").read_text("utf-8"))["x-b12cds"]["cards"]
           for name in ("folic-acid-safety-select", "folic-acid-safety-sign")}
    assert raw["folic-acid-safety-select"] == raw["folic-acid-safety-sign"] == ["folic-acid-safety"]
    assert _block("folic-acid-safety-select")["cards"] == _block("folic-acid-safety-sign")["cards"]


def test_a_later_block_adds_kinds_and_replaces_the_source(tmp_path):
    (tmp_path / "card-texts").mkdir()
    shared = _block("b12-status")["cards"]
    (tmp_path / "card-texts" / "base.json").write_text(json.dumps(shared), "utf-8")
    service = json.loads((HOOKS / "b12-status.json").read_text("utf-8"))
    extra_kind = {**shared["kinds"]["pure_motor"], "summary": "Another kind"}
    service["x-b12cds"]["cards"] = ["base", {"kinds": {"another": extra_kind},
                                            "source": {**shared["source"], "label": "Someone else"}}]
    (tmp_path / "b12-status.json").write_text(json.dumps(service), "utf-8")
    [loaded] = load_registry(tmp_path, accept_any_cards())
    assert loaded.card_texts["kinds"]["another"]["summary"] == "Another kind"
    assert set(shared["kinds"]) < set(loaded.card_texts["kinds"])
    assert loaded.card_texts["source"]["label"] == "Someone else"
    assert loaded.card_texts["source"]["guideline"] == shared["source"]["guideline"]


def test_a_missing_shared_block_is_named(tmp_path):
    service = json.loads((HOOKS / "b12-status.json").read_text("utf-8"))
    service["x-b12cds"]["cards"] = ["no-such-texts"]
    (tmp_path / "b12-status.json").write_text(json.dumps(service), "utf-8")
    with pytest.raises(ConfigError, match=r"b12-status.json: x-b12cds.cards: shared texts 'no-such-texts'"):
        load_registry(tmp_path, accept_any_cards())


def test_a_wording_the_table_can_pick_must_exist():
    texts = copy.deepcopy(_block("b12-status")["cards"])
    del texts["kinds"]["deficient"]["variants"]["malabsorption"]
    with pytest.raises(ValueError, match=r"kinds.deficient.variants.malabsorption: missing"):
        validate_card_texts("b12_status", texts)


def test_a_lead_note_the_rules_use_must_exist():
    texts = copy.deepcopy(_block("folic-acid-safety-sign")["cards"])
    del texts["leadNotes"]["pregnancy"]
    with pytest.raises(ValueError, match=r"leadNotes.pregnancy: missing"):
        validate_card_texts("folic_acid_safety", texts)


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


def test_a_kind_may_name_its_own_card_source_from_the_guidelines():
    texts = copy.deepcopy(_block("metformin-b12-monitoring")["cards"])
    assert texts["kinds"]["metformin_monitoring"]["cardSource"]["guideline"] == "fda_metformin_label"
    texts["kinds"]["metformin_monitoring"]["cardSource"]["guideline"] = "nowhere"
    with pytest.raises(ValueError, match=r"kinds.metformin_monitoring.cardSource.guideline: 'nowhere'"):
        validate_card_texts("metformin_b12_monitoring", texts)
