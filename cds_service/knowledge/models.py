"""Pydantic models of the knowledge files: a bad file fails at start-up, naming the field.

Field names follow the JSON files (camelCase, as in FHIR), hence ``N815`` is not
enforced here.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Confidence = Literal["verified", "weak", "unverified"]
# Route groups as named by chart.facts.Route (knowledge may not import the chart layer;
# tests/test_knowledge.py checks the two stay in step).
RouteName = Literal["intramuscular", "subcutaneous", "oral", "nasal", "sublingual", "injection", "other"]
InterpretationName = Literal["low", "normal", "high"]
VALUE_SET_ID = r"^(lab|med|problem|form|obs)_[a-z0-9_]+$"


class _Strict(BaseModel):
    """Base for knowledge models: unknown keys are typos, so they are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Conversion(_Strict):
    """Multiply by ``factor`` or divide by ``divisor`` (exactly one) to reach the target unit."""

    factor: float | None = None
    divisor: float | None = None
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _exactly_one_positive(self) -> Conversion:
        given = [n for n in (self.factor, self.divisor) if n is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'factor' or 'divisor'")
        if not (math.isfinite(given[0]) and given[0] > 0):
            raise ValueError("conversion must be a positive finite number")
        return self

    @property
    def multiplier(self) -> float:
        """Return the multiplicative factor to the target unit."""
        return self.factor if self.factor is not None else 1 / float(self.divisor or 1)


class CodeEntry(_Strict):
    """One code in a value set, with how sure we are of it."""

    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str = ""
    confidence: Confidence
    evidence: str = ""
    icd10Prefix: bool | None = None  # overrides the value set's flag for this entry


class ValueSet(_Strict):
    """A named group of codes and lower-case text synonyms (ARCHITECTURE.md, Knowledge)."""

    title: str = Field(min_length=1)
    source: str = Field(min_length=1)
    codes: list[CodeEntry] = []
    text: list[str] = []
    note: str | None = None
    icd10Prefix: bool = False

    @field_validator("text")
    @classmethod
    def _lower_case_synonyms(cls, synonyms: list[str]) -> list[str]:
        for synonym in synonyms:
            if not synonym.strip() or synonym != synonym.lower().strip():
                raise ValueError(f"synonym {synonym!r} must be non-empty, lower-case, trimmed")
        return synonyms


class TextContext(_Strict):
    """Words around a text synonym that mean the problem is absent, queried or a relative's.

    Cues are lower-case; a cue made of word characters matches as a whole word.
    """

    source: str = Field(min_length=1)
    appliesTo: str = Field(min_length=1)
    negationBefore: list[str] = Field(min_length=1)
    negationAfter: list[str] = Field(min_length=1)
    clauseBreaks: list[str] = Field(min_length=1)
    familyHistory: list[str] = Field(min_length=1)
    familyHistoryCodes: list[CodeEntry] = []
    anyOrderFillers: list[str] = []
    anyOrderSource: str | None = None

    @field_validator("negationBefore", "negationAfter", "familyHistory")
    @classmethod
    def _lower_case_cues(cls, cues: list[str]) -> list[str]:
        for cue in cues:
            if not cue.strip() or cue != cue.lower().strip():
                raise ValueError(f"cue {cue!r} must be non-empty, lower-case, trimmed")
        return cues


class ValueSetsFile(_Strict):
    """valuesets.json."""

    textContext: TextContext
    valueSets: dict[str, ValueSet]
    note: str | None = None

    @field_validator("valueSets")
    @classmethod
    def _ids_follow_convention(cls, sets: dict[str, ValueSet]) -> dict[str, ValueSet]:
        bad = [name for name in sets if not re.match(VALUE_SET_ID, name)]
        if bad:
            raise ValueError(f"value-set ids must match {VALUE_SET_ID}: {bad}")
        return sets


class ImpliedUnit(_Strict):
    """The unit a LOINC code's values are in when a lab sends a bare number."""

    unit: str = Field(min_length=1)
    source: str = Field(min_length=1)


class AnalyteSpec(_Strict):
    """One analyte: canonical unit, the value set naming its codes, accepted units."""

    canonicalUnit: str = Field(min_length=1)
    valueSet: str = Field(pattern=r"^lab_")
    source: str = Field(min_length=1)
    units: dict[str, Conversion]
    impliedUnits: dict[str, ImpliedUnit] = {}  # LOINC code -> unit of a unitless value
    impliedUnitsNote: str | None = None

    @model_validator(mode="after")
    def _units_consistent(self) -> AnalyteSpec:
        own = self.units.get(self.canonicalUnit)
        if own is None or own.multiplier != 1:
            raise ValueError("units must list canonicalUnit with factor 1")
        unlisted = sorted(i.unit for i in self.impliedUnits.values() if i.unit not in self.units)
        if unlisted:
            raise ValueError(f"impliedUnits name units not in units: {unlisted}")
        return self


class InterpretationSpec(_Strict):
    """Observation.interpretation codes the chart understands."""

    source: str = Field(min_length=1)
    systems: list[str]
    codes: dict[str, InterpretationName]


class AnalytesFile(_Strict):
    """analytes.json."""

    about: str = ""
    unitNormalisation: str = Field(min_length=1)
    analytes: dict[str, AnalyteSpec]
    interpretation: InterpretationSpec


class TimingCode(_Strict):
    """A timing abbreviation spelled out as frequency per period."""

    frequency: float = Field(gt=0)
    period: float = Field(gt=0)
    periodUnit: str


class TimingCodes(_Strict):
    """HL7 timing abbreviations (BID, TID, ...)."""

    system: str
    source: str = Field(min_length=1)
    codes: dict[str, TimingCode]


class RouteCode(_Strict):
    """A coded route of administration and the route group it belongs to."""

    system: str
    code: str
    route: RouteName
    display: str = ""
    confidence: Confidence


class Routes(_Strict):
    """Route codes and lower-case route words."""

    source: str = Field(min_length=1)
    codes: list[RouteCode]
    text: dict[str, RouteName]


class CountUnits(_Strict):
    """Dose units meaning one unit of the product (tablet, capsule, bare count)."""

    source: str = Field(min_length=1)
    units: list[str] = Field(min_length=1)


class DosingFile(_Strict):
    """dosing.json."""

    about: str = ""
    doseMassToMg: dict[str, Conversion]
    countUnits: CountUnits
    periodToDays: dict[str, Conversion]
    timingCodes: TimingCodes
    routes: Routes

    @model_validator(mode="after")
    def _timing_units_known(self) -> DosingFile:
        unknown = {c.periodUnit for c in self.timingCodes.codes.values()} - set(self.periodToDays)
        if unknown:
            raise ValueError(f"timingCodes use period units not in periodToDays: {sorted(unknown)}")
        return self


class CodeSystem(_Strict):
    """A code system's short name and the aliases EHRs send for it."""

    name: str = Field(pattern=r"^[a-z0-9]+$")
    aliases: list[str] = []


class ClassPrefixRule(_Strict):
    """A hierarchical code system whose shorter codes are classes matching longer codes by prefix."""

    system: str = Field(min_length=1)
    fullCodeLength: int = Field(gt=0)
    source: str = Field(min_length=1)


class CodeSystemsFile(_Strict):
    """code_systems.json."""

    about: str = ""
    source: str = Field(min_length=1)
    systems: dict[str, CodeSystem]
    icd10PrefixSystem: str
    classPrefix: ClassPrefixRule

    @model_validator(mode="after")
    def _prefix_system_known(self) -> CodeSystemsFile:
        if self.icd10PrefixSystem not in self.systems:
            raise ValueError("icd10PrefixSystem must be one of systems")
        return self
