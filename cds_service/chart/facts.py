"""Typed clinical facts: what the rules read, never raw FHIR.

The chart layer turns FHIR R4 resources into these immutable values once, with
units converted to the analyte's canonical unit. Rules take them and nothing else.
Every fact keeps ``source_ref`` ("Observation/123") so a card can say what it used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Analyte(StrEnum):
    """A laboratory quantity the rules reason about (B12-RULES.md §2)."""

    B12_TOTAL = "b12_total"  # canonical ng/L
    B12_ACTIVE = "b12_active"  # holotranscobalamin, canonical pmol/L
    MMA = "mma"  # methylmalonic acid, canonical umol/L
    HOMOCYSTEINE = "homocysteine"  # canonical umol/L
    HAEMOGLOBIN = "haemoglobin"  # canonical g/dL
    MCV = "mcv"  # canonical fL
    PLATELETS = "platelets"  # canonical 10*3/uL
    EGFR = "egfr"  # canonical mL/min/{1.73_m2}
    FOLATE = "folate"  # serum folate, canonical ng/mL


class Comparator(StrEnum):
    """How the reported value relates to the true value (FHIR Quantity.comparator)."""

    EQ = "="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class Interpretation(StrEnum):
    """The lab's own flag, reduced to what the rules need."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class DataIssue(StrEnum):
    """Why a lab result cannot decide anything; shown to the clinician, never guessed past."""

    NOT_FINAL = "not-final"  # registered / preliminary: not yet usable
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    NO_VALUE = "no-value"  # absent value, or dataAbsentReason
    NON_NUMERIC = "non-numeric"  # valueString that does not parse as a number
    UNKNOWN_UNIT = "unknown-unit"  # a unit we cannot convert: reported, never guessed
    NO_DATE = "no-date"
    STALE = "stale"  # older than the lookback window


@dataclass(frozen=True)
class LabResult:
    """One laboratory result, value in the analyte's canonical unit.

    ``value`` is None whenever ``issues`` makes the result unusable for a number
    (NO_VALUE, NON_NUMERIC, UNKNOWN_UNIT); ``reported`` keeps what the lab sent
    ("<100 pmol/L") so a card can quote it.
    """

    analyte: Analyte
    value: float | None
    unit: str  # canonical unit of the analyte (or the raw unit when UNKNOWN_UNIT)
    comparator: Comparator
    effective: date | None
    status: str  # FHIR Observation.status as sent
    reported: str  # human-readable value as sent, e.g. "<100 pmol/L"
    reference_low: float | None = None  # lab's referenceRange, canonical unit
    reference_high: float | None = None
    interpretation: Interpretation | None = None
    issues: tuple[DataIssue, ...] = ()
    source_ref: str = ""  # "Observation/<id>"
    code: str = ""  # the LOINC code that matched

    @property
    def usable(self) -> bool:
        """True when this result may decide a status (stale results give context only)."""
        return not self.issues

    @classmethod
    def of(cls, **fields: object) -> LabResult:
        """Return ``LabResult(**fields)``, every field given, without the frozen dataclass's ``__init__``.

        Why: that ``__init__`` sets each of the 13 fields through ``object.__setattr__`` (2.4 µs a
        result here); the chart builds one per Observation read and the picks one per stale result
        (5,000 each in a long chart). This sets them at once (0.9 µs); the instance is the same
        (``tests/test_chart_labs.py`` compares the two) and as frozen afterwards.
        """
        result = object.__new__(cls)
        _set(result, "__dict__", fields)  # the keyword dict is this call's own: it becomes the instance's
        return result


_set = object.__setattr__


class MedicationClass(StrEnum):
    """Medication groups the rules reason about (B12-RULES.md §3-§5)."""

    METFORMIN = "metformin"
    PPI = "ppi"
    H2RA = "h2ra"
    COLCHICINE = "colchicine"
    PHENOBARBITAL = "phenobarbital"
    PREGABALIN = "pregabalin"
    PRIMIDONE = "primidone"
    TOPIRAMATE = "topiramate"
    FOLIC_ACID = "folic_acid"  # folic acid / folate without B12
    B12_THERAPY = "b12_therapy"  # hydroxocobalamin, cyanocobalamin, methylcobalamin
    B12_FOLATE_COMBINATION = "b12_folate_combination"  # contains both: never a folate trigger


class Route(StrEnum):
    """Administration route, reduced to what the rules need."""

    INTRAMUSCULAR = "intramuscular"
    SUBCUTANEOUS = "subcutaneous"
    ORAL = "oral"
    NASAL = "nasal"
    SUBLINGUAL = "sublingual"
    INJECTION = "injection"  # parenteral, route not stated: the product is an injectable form (§7)
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MedicationUse:
    """A medicine the patient takes, took, or is being ordered (draft)."""

    med_class: MedicationClass
    ingredient: str  # e.g. "metformin", "hydroxocobalamin"
    display: str  # what the EHR called it, for card text
    route: Route
    daily_dose_mg: float | None  # None when the dose is not stated or not computable
    start: date | None
    end: date | None
    active: bool  # status active/on-hold (statements: active/intended) and not ended
    is_draft: bool = False  # from the hook's draftOrders, not yet on the server
    source_ref: str = ""  # "MedicationRequest/<id>" or "MedicationStatement/<id>"
    matched_by: str = ""  # "rxnorm:6809", "atc:A10BA02", "text:glucophage": how it was recognised
    unread: tuple[str, ...] = ()  # elements of the record that could not be read ("dosageInstruction")


class DataSet(StrEnum):
    """A set of clinical data a service reads; named on a card when the EHR could not give it.

    Why: rules speak of clinical facts ("renal function unknown"), never of a service's prefetch
    keys; each hooks JSON says which data set each optional key holds (``prefetchPolicy.dataSets``).
    """

    BLOOD_COUNT = "blood count"
    RENAL_FUNCTION = "renal function"
    PROCEDURES = "procedures"
    PREGNANCY_TESTS = "pregnancy tests"
    B12_MARKERS = "B12 markers"
    MEDICATIONS = "medications"
    PROBLEMS = "problem list"
    DEMOGRAPHICS = "demographics"


class ProblemCategory(StrEnum):
    """Problem-list groups the rules reason about (B12-RULES.md §4)."""

    B12_DEFICIENCY = "b12_deficiency"
    PERNICIOUS_ANAEMIA = "pernicious_anaemia"
    NEUROPATHY = "neuropathy"  # peripheral / poly / diabetic neuropathy
    MOTOR_NEUROPATHY = "motor_neuropathy"  # coded as purely motor: atypical for B12 (seed 000)
    PARAESTHESIA = "paraesthesia"
    SUBACUTE_COMBINED_DEGENERATION = "subacute_combined_degeneration"
    ATAXIA = "ataxia"
    COGNITIVE_IMPAIRMENT = "cognitive_impairment"
    GASTRECTOMY = "gastrectomy"
    BARIATRIC_SURGERY = "bariatric_surgery"
    ILEAL_RESECTION = "ileal_resection"
    CROHN_DISEASE = "crohn_disease"
    ATROPHIC_GASTRITIS = "atrophic_gastritis"
    COELIAC_DISEASE = "coeliac_disease"
    CKD_STAGE_4_5 = "ckd_stage_4_5"
    PREGNANCY = "pregnancy"
    VEGAN_DIET = "vegan_diet"
    AUTOIMMUNE_DISEASE = "autoimmune_disease"
    NITROUS_OXIDE_USE = "nitrous_oxide_use"


@dataclass(frozen=True)
class Problem:
    """A Condition (or a Procedure recorded as history) in one of the categories."""

    category: ProblemCategory
    display: str
    clinical_status: str | None  # active / recurrence / relapse / inactive / remission / resolved
    verification_status: str | None  # confirmed / provisional / differential / unconfirmed / refuted / entered-in-error
    onset: date | None
    active: bool  # counts now: clinically active and not refuted / entered-in-error
    source_ref: str = ""
    matched_by: str = ""
    recorded: date | None = None  # Condition.recordedDate (an Observation: its date)
    ended: bool = False  # an abatement is recorded: the problem is over

    @classmethod
    def of(cls, **fields: object) -> Problem:
        """Return ``Problem(**fields)``, every field given, without the frozen ``__init__`` (as ``LabResult.of``:
        one per problem found in every Condition read)."""
        problem = object.__new__(cls)
        _set(problem, "__dict__", fields)
        return problem


@dataclass(frozen=True)
class Patient:
    """The few demographics the rules use."""

    id: str
    sex: str | None  # FHIR Patient.gender as sent: male / female / other / unknown
    birth_date: date | None
    deceased: bool = False  # deceasedBoolean true or a deceasedDateTime (B12-RULES.md §7)


@dataclass(frozen=True)
class Chart:
    """Everything the rules may know about one patient at one moment.

    ``missing`` names the data sets that could not be obtained (an optional
    prefetch key that failed); rules must say so in their evidence rather than
    assume the data were normal.
    """

    today: date
    patient: Patient | None
    labs: tuple[LabResult, ...] = ()
    medications: tuple[MedicationUse, ...] = ()  # on record (MedicationStatement / MedicationRequest)
    draft_orders: tuple[MedicationUse, ...] = ()  # from the hook context; recognised classes only
    problems: tuple[Problem, ...] = ()
    missing: frozenset[DataSet] = field(default_factory=frozenset)
    notes: tuple[str, ...] = ()  # data-quality notes for the clinician ("unknown unit 'mg' on Observation/9")

    def labs_of(self, analyte: Analyte) -> tuple[LabResult, ...]:
        """Return the results of ``analyte``, in the order of ``labs`` (grouped once per chart: each pick asks)."""
        return self._labs_by_analyte.get(analyte, ())

    @functools.cached_property
    def _labs_by_analyte(self) -> dict[Analyte, tuple[LabResult, ...]]:
        groups: dict[Analyte, list[LabResult]] = {}
        for result in self.labs:
            groups.setdefault(result.analyte, []).append(result)
        return {analyte: tuple(results) for analyte, results in groups.items()}
