"""clinical.json: every number sourced, loaded once, bad files named."""

from __future__ import annotations

import json

import pytest

from cds_service.chart.facts import MedicationClass
from cds_service.knowledge.clinical import (
    CLINICAL_FILE,
    ClinicalKnowledgeError,
    load_clinical_knowledge,
    parse_clinical_knowledge,
)


def test_loaded_once():
    assert load_clinical_knowledge() is load_clinical_knowledge()


def test_thresholds_carry_units_and_sources():
    kb = load_clinical_knowledge()
    t = kb.thresholds
    assert (t.b12_total_deficient_below.value, t.b12_total_deficient_below.unit) == (180, "ng/L")
    assert (t.b12_active_normal_above.value, t.mma_upper_limit_default.value) == (70, 0.40)
    for name, entry in t:
        assert entry.source and entry.unit, name


def test_risk_medicine_keys_are_medication_classes():
    for key in load_clinical_knowledge().risk_medicines:
        MedicationClass(key)


def test_guideline_links_are_absolute():
    for gid, guideline in load_clinical_knowledge().guidelines.items():
        assert str(guideline.url).startswith("https://"), gid


def test_every_entry_in_the_file_names_its_source():
    raw = json.loads(CLINICAL_FILE.read_text(encoding="utf-8"))

    def walk(node, path):
        if isinstance(node, dict):
            if {"value", "months", "url", "code", "steps", "dose_value", "min_months"} & node.keys():
                assert node.get("source"), path
            for key, child in node.items():
                walk(child, f"{path}.{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, f"{path}[{i}]")

    walk(raw, "clinical.json")


def test_missing_field_is_named():
    raw = json.loads(CLINICAL_FILE.read_text(encoding="utf-8"))
    del raw["thresholds"]["mma_upper_limit_default"]["source"]
    with pytest.raises(
        ClinicalKnowledgeError, match=r"clinical.json: thresholds.mma_upper_limit_default.source"
    ):
        parse_clinical_knowledge(raw)


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "clinical.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ClinicalKnowledgeError, match=r"clinical.json: cannot read"):
        load_clinical_knowledge(bad)
