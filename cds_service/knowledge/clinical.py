"""Clinical knowledge for the rules and cards: thresholds, durations, regimens, links.

Loaded once from ``clinical.json`` beside this module. Every entry carries its
``source``; a bad file raises :class:`ClinicalKnowledgeError` naming the file and
the field, so start-up stops instead of a card quoting a wrong number.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

CLINICAL_FILE = Path(__file__).with_name("clinical.json")

Source = Field(min_length=1)


class ClinicalKnowledgeError(ValueError):
    """The clinical knowledge file is missing, malformed or incomplete."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Entry):
    """A clinical number with its unit (UCUM-like) and where it comes from."""

    value: float
    unit: str = Field(min_length=1)
    source: str = Source


class Thresholds(_Entry):
    b12_total_deficient_below: Threshold
    b12_total_normal_above: Threshold
    b12_total_functional_upper: Threshold
    b12_total_molar_deficient_below: Threshold
    b12_total_molar_normal_above: Threshold
    b12_molar_to_mass_factor: Threshold
    b12_active_deficient_below: Threshold
    b12_active_normal_above: Threshold
    mma_upper_limit_default: Threshold
    egfr_renal_caveat_below: Threshold
    mcv_macrocytosis_above: Threshold
    haemoglobin_anaemia_below_female: Threshold
    haemoglobin_anaemia_below_male: Threshold
    age_risk_above_years: Threshold
    folic_acid_trigger_above_mg_per_day: Threshold
    oral_b12_therapy_min_mg_per_day: Threshold
    pregnancy_folic_acid_low_mg_per_day: Threshold
    pregnancy_folic_acid_high_mg_per_day: Threshold


class Duration(_Entry):
    months: int = Field(gt=0)
    source: str = Source


class Durations(_Entry):
    lab_lookback: Duration
    on_treatment_reassessment: Duration
    risk_medicine_recent_stop: Duration
    untreated_permanent_damage: Duration


class DayTolerance(_Entry):
    """A tolerance in whole days, with where it comes from."""

    days: int = Field(gt=0)
    source: str = Source


class Tolerances(_Entry):
    prescription_renewal_gap: DayTolerance
    future_result_grace: DayTolerance
    current_pregnancy: DayTolerance


class RiskMedicine(_Entry):
    """A medicine that lowers B12; ``min_months`` None means any current use counts."""

    label: str = Field(min_length=1)
    min_months: int | None = Field(default=None, gt=0)
    source: str = Source


class RegimenStep(_Entry):
    """One phase of a regimen, in the terms of a FHIR Dosage."""

    name: str = Field(min_length=1)
    text: str = Field(min_length=1)
    dose_value: float = Field(gt=0)
    dose_unit: Literal["mg", "ug"]
    route: Literal["intramuscular", "oral"]
    frequency: int = Field(gt=0)
    period: float = Field(gt=0)
    period_unit: Literal["d", "wk", "mo"]
    bounds_weeks: int | None = Field(default=None, gt=0)
    source: str = Source


class Regimen(_Entry):
    title: str = Field(min_length=1)
    summary_text: str = Field(min_length=1)
    steps: tuple[RegimenStep, ...] = Field(min_length=1)
    usage: str | None = None
    source: str = Source


class MedicationProduct(_Entry):
    text: str = Field(min_length=1)
    rxnorm: str | None = None  # sent only once verified (docs/terminology.md), with its RxNorm name
    rxnormDisplay: str | None = None
    source: str = Source


class CodedConcept(_Entry):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str = Field(min_length=1)
    source: str = Source


class LabTest(CodedConcept):
    text: str = Field(min_length=1)


class LoincCode(_Entry):
    code: str = Field(min_length=1)
    source: str = Source


class Guideline(_Entry):
    label: str = Field(min_length=1)
    url: HttpUrl
    source: str = Source


class Discrepancy(_Entry):
    """Where B12-RULES.md and a guideline or seed differ, and what the product does."""

    topic: str
    rules: str
    other: str
    decision: str
    source: str = Source


class About(_Entry):
    title: str
    source: str = Source
    note: str


class ClinicalKnowledge(_Entry):
    about: About
    thresholds: Thresholds
    durations: Durations
    tolerances: Tolerances
    risk_medicines: dict[str, RiskMedicine]
    regimens: dict[Literal[
        "hydroxocobalamin_neuro", "hydroxocobalamin_standard", "cyanocobalamin_oral",
        "hydroxocobalamin_ileal_resection",
    ], Regimen]
    medications: dict[Literal["hydroxocobalamin_injection", "cyanocobalamin_oral"], MedicationProduct]
    routes: dict[Literal["intramuscular", "oral"], CodedConcept]
    lab_tests: dict[Literal["b12_total", "mma", "homocysteine", "b12_active"], LabTest]
    b12_total_molar_loinc: LoincCode
    lab_category: CodedConcept
    deficiency_reason: CodedConcept
    guidelines: dict[str, Guideline]
    discrepancies: tuple[Discrepancy, ...]


def parse_clinical_knowledge(raw: object, *, file_name: str = CLINICAL_FILE.name) -> ClinicalKnowledge:
    """Validate already-parsed JSON.

    :raises ClinicalKnowledgeError: naming the file and the first bad field.
    """
    try:
        kb = ClinicalKnowledge.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ClinicalKnowledgeError(f"{file_name}: {field}: {first['msg']}") from exc
    for needed in ("fda_folic_acid_label", "nice_ng239", "bnf_hydroxocobalamin"):
        if needed not in kb.guidelines:
            raise ClinicalKnowledgeError(f"{file_name}: guidelines.{needed}: missing")
    return kb


@functools.lru_cache(maxsize=4)
def load_clinical_knowledge(path: Path = CLINICAL_FILE) -> ClinicalKnowledge:
    """Load and validate ``clinical.json`` once.

    :raises ClinicalKnowledgeError: the file is unreadable or a field is missing or bad.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ClinicalKnowledgeError(f"{Path(path).name}: cannot read: {exc}") from exc
    return parse_clinical_knowledge(raw, file_name=Path(path).name)
