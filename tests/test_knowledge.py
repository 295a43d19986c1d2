"""Knowledge files: loading, refusing bad files, and the lookups the chart relies on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from cds_service.chart.facts import Analyte, Interpretation, MedicationClass, ProblemCategory, Route
from cds_service.knowledge import (
    PACKAGE_DIR,
    KnowledgeError,
    UnitTable,
    load_knowledge,
    normalise_text,
    normalise_unit,
)
from cds_service.knowledge.models import Conversion

FILES = ("valuesets.json", "analytes.json", "dosing.json", "code_systems.json", "clinical.json")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def knowledge_copy(tmp_path: Path, edit: dict[str, Any] | None = None) -> Path:
    """Copy the package's knowledge files to ``tmp_path``, replacing files named in ``edit``."""
    for name in FILES:
        shutil.copy(PACKAGE_DIR / name, tmp_path / name)
    for name, content in (edit or {}).items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def package_json(name: str) -> dict[str, Any]:
    """Return one of the package's knowledge files as JSON."""
    return json.loads((PACKAGE_DIR / name).read_text(encoding="utf-8"))


def with_demo_sets(tmp_path: Path) -> Path:
    """Return a knowledge folder whose value sets include small demonstration sets."""
    value_sets = package_json("valuesets.json")
    value_sets["valueSets"] |= {
        "problem_demo_prefix": {
            "title": "Demo",
            "source": "test",
            "icd10Prefix": True,
            "codes": [
                {"system": ICD10CM, "code": "Q99", "confidence": "verified"},
                {"system": ICD10CM, "code": "Q98.1", "confidence": "weak", "icd10Prefix": False},
            ],
        },
        "problem_demo_exact": {
            "title": "Demo",
            "source": "test",
            "codes": [{"system": ICD10CM, "code": "Q97", "confidence": "unverified"}],
            "text": ["demo's disease", "demo"],
        },
    }
    return knowledge_copy(tmp_path, {"valuesets.json": value_sets})


# --- the package's own files --------------------------------------------------------------------


def test_package_knowledge_loads_once() -> None:
    assert load_knowledge() is load_knowledge()


def test_every_analyte_has_units_and_an_existing_value_set() -> None:
    kb = load_knowledge()
    assert set(kb.analytes.analytes) == {a.value for a in Analyte}
    for name, spec in kb.analytes.analytes.items():
        assert spec.valueSet == f"lab_{name}"
        assert spec.valueSet in kb.value_sets
        assert all(conversion.source for conversion in spec.units.values())


def test_every_medication_class_and_problem_category_has_a_value_set() -> None:
    kb = load_knowledge()
    assert {f"med_{c.value}" for c in MedicationClass} <= set(kb.value_sets)
    assert {f"problem_{c.value}" for c in ProblemCategory} <= set(kb.value_sets)


def test_route_and_interpretation_names_are_the_chart_enums() -> None:
    kb = load_knowledge()
    routes = {e.route for e in kb.dosing.routes.codes} | set(kb.dosing.routes.text.values())
    assert routes <= {r.value for r in Route}
    assert set(kb.analytes.interpretation.codes.values()) <= {i.value for i in Interpretation}


@pytest.mark.parametrize(
    ("analyte", "unit", "multiplier"),
    [
        ("b12_total", "pmol/L", 1.355),  # B12-RULES.md §2
        ("b12_total", "pg/mL", 1),
        ("mma", "nmol/L", 0.001),
        ("mma", "nmol/mL", 1),
        ("homocysteine", "mg/L", 1 / 0.135),
        ("haemoglobin", "g/L", 0.1),
        ("platelets", "10*9/L", 1),
        ("folate", "nmol/L", 0.441),
    ],
)
def test_conversions_follow_the_clinical_spec(analyte: str, unit: str, multiplier: float) -> None:
    assert load_knowledge().lab_units[analyte].multiplier(unit, ucum=True) == pytest.approx(multiplier)


# --- units ------------------------------------------------------------------------------------------


def test_unit_normalisation_removes_spaces_and_spells_micro_as_u() -> None:
    assert normalise_unit(" µmol / L ") == "umol/L"
    assert normalise_unit("μmol/L") == "umol/L"
    assert normalise_unit("10⁹/L") == "10⁹/L"  # superscripts are not flattened to "109/L"


def test_ucum_lookup_is_case_sensitive_and_human_lookup_is_not() -> None:
    table = load_knowledge().lab_units["b12_total"]
    assert table.multiplier("PMOL/L", ucum=True) is None
    assert table.multiplier("PMOL/L", ucum=False) == pytest.approx(1.355)


def test_case_folding_is_refused_where_it_would_change_the_size() -> None:
    table = UnitTable.build({"Mm": Conversion(factor=1, source="t"), "mm": Conversion(factor=2, source="t")})
    assert table.multiplier("Mm", ucum=False) == 1
    assert table.multiplier("MM", ucum=False) is None


def test_conversion_needs_exactly_one_positive_number() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Conversion(factor=1, divisor=2, source="t")
    with pytest.raises(ValueError, match="positive"):
        Conversion(factor=0, source="t")


# --- codes and text ---------------------------------------------------------------------------------


def test_code_lookup_resolves_system_aliases() -> None:
    kb = load_knowledge()
    by_oid = kb.match_code("urn:oid:2.16.840.1.113883.6.1", "2132-9")
    assert [m.value_set for m in by_oid] == ["lab_b12_total"]
    assert by_oid[0].evidence == "loinc:2132-9"


def test_icd10_prefix_matching_follows_the_set_and_entry_flags(tmp_path: Path) -> None:
    kb = load_knowledge(with_demo_sets(tmp_path))
    assert [m.value_set for m in kb.match_code(ICD10CM, "Q99.81")] == ["problem_demo_prefix"]
    assert [m.value_set for m in kb.match_code(ICD10CM, "q9981")] == ["problem_demo_prefix"]
    assert kb.match_code(ICD10CM, "Q98.12") == ()  # entry flag overrides the set's
    assert kb.match_code(ICD10CM, "Q97.0") == ()  # set without the flag: exact only
    assert kb.match_code("http://snomed.info/sct", "Q99.1") == ()  # prefixes are for ICD-10-CM only


def test_cached_lookups_answer_as_the_uncached_ones(tmp_path: Path) -> None:
    kb = load_knowledge(with_demo_sets(tmp_path))
    cases = [(ICD10CM, "Q99.81", ""), (ICD10CM, "q9981", ""), (ICD10CM, " Q99.81 ", "problem_"),
             ("http://loinc.org", "2132-9", "lab_"), ("http://loinc.org", "2132-9", "med_")]
    for system, code, prefix in cases * 2:  # the second round is answered from the cache
        assert kb.match_code(system, code, prefix) == kb._match_code(system, code, prefix)
    # Evidence names each code as sent, also when two spellings fall under one cached prefix entry.
    assert kb.match_code(ICD10CM, "q9981")[0].code == "q9981"
    assert kb.match_code(ICD10CM, "Q99.81")[0].code == "Q99.81"
    for text in ["History of demo's disease", "no match here", "History of demo's disease"]:
        assert kb.match_text(text, "problem_demo") == kb._match_text(text, "problem_demo")
    by_scan = {spec.valueSet: name for name, spec in reversed(kb.analytes.analytes.items())}
    assert all(kb.analyte_for_value_set(vs) == name for vs, name in by_scan.items())
    assert kb.analyte_for_value_set("problem_demo_prefix") is None


def test_unverified_code_is_flagged_in_the_evidence(tmp_path: Path) -> None:
    (match,) = load_knowledge(with_demo_sets(tmp_path)).match_code(ICD10CM, "Q97")
    assert match.evidence == "icd10cm:Q97 (unverified code)"


def test_text_matches_whole_words_only(tmp_path: Path) -> None:
    kb = load_knowledge(with_demo_sets(tmp_path))
    assert [m.synonym for m in kb.match_text("History of DEMO’S  Disease", "problem_demo")] == [
        "demo's disease"
    ]
    assert kb.match_text("demonstration", "problem_demo") == ()
    assert [m.synonym for m in kb.match_text("demo", "problem_demo")] == ["demo"]


def test_haemoglobin_a1c_is_not_haemoglobin_by_name() -> None:
    assert load_knowledge().match_text("HbA1c", "lab_") == ()


def test_the_most_specific_synonym_wins() -> None:
    assert [m.value_set for m in load_knowledge().match_text("Active B12", "lab_")] == ["lab_b12_active"]


def test_text_normalisation() -> None:
    assert normalise_text("  Crohn’s   Disease ") == "crohn's disease"


# --- bad files -----------------------------------------------------------------------------------------


def test_bad_field_names_the_file_and_the_field(tmp_path: Path) -> None:
    analytes = package_json("analytes.json")
    del analytes["analytes"]["mma"]["units"]["nmol/L"]["source"]
    with pytest.raises(
        KnowledgeError, match=r"analytes\.json: analytes\.mma\.units\.nmol/L\.source: Field required"
    ):
        load_knowledge(knowledge_copy(tmp_path, {"analytes.json": analytes}))


def test_bad_confidence_in_a_value_set_is_refused(tmp_path: Path) -> None:
    value_sets = package_json("valuesets.json")
    value_sets["valueSets"]["lab_mma"]["codes"][0]["confidence"] = "probably"
    with pytest.raises(KnowledgeError, match=r"valuesets\.json: valueSets\.lab_mma\.codes\.0\.confidence"):
        load_knowledge(knowledge_copy(tmp_path, {"valuesets.json": value_sets}))


def test_upper_case_synonym_is_refused(tmp_path: Path) -> None:
    value_sets = package_json("valuesets.json")
    value_sets["valueSets"]["lab_mma"]["text"].append("MMA")
    with pytest.raises(KnowledgeError, match=r"valuesets\.json: valueSets\.lab_mma\.text"):
        load_knowledge(knowledge_copy(tmp_path, {"valuesets.json": value_sets}))


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    dosing = package_json("dosing.json")
    dosing["routes"]["codez"] = []
    with pytest.raises(KnowledgeError, match=r"dosing\.json: routes\.codez: Extra inputs"):
        load_knowledge(knowledge_copy(tmp_path, {"dosing.json": dosing}))


def test_analyte_naming_a_missing_value_set_is_refused(tmp_path: Path) -> None:
    analytes = package_json("analytes.json")
    analytes["analytes"]["mma"]["valueSet"] = "lab_nothing"
    with pytest.raises(KnowledgeError, match=r"analytes\.json: analytes\.mma\.valueSet: 'lab_nothing'"):
        load_knowledge(knowledge_copy(tmp_path, {"analytes.json": analytes}))


def test_unit_spellings_that_collide_are_refused(tmp_path: Path) -> None:
    analytes = package_json("analytes.json")
    analytes["analytes"]["mma"]["units"]["µmol / L"] = {"factor": 2, "source": "typo"}
    with pytest.raises(KnowledgeError, match=r"analytes\.json: analytes\.mma\.units: .*collide"):
        load_knowledge(knowledge_copy(tmp_path, {"analytes.json": analytes}))


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"dosing\.json: not valid JSON at line 1"):
        load_knowledge(knowledge_copy(tmp_path, {"dosing.json": "{oops"}))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    knowledge_copy(tmp_path)
    (tmp_path / "code_systems.json").unlink()
    with pytest.raises(KnowledgeError, match=r"code_systems\.json: cannot be read"):
        load_knowledge(tmp_path)
