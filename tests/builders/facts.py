"""Chart facts built inline for rule and card tests (no FHIR, no chart layer)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

from builders import TODAY
from cds_service.chart.facts import (
    Analyte,
    Chart,
    Comparator,
    Interpretation,
    LabResult,
    MedicationClass,
    MedicationUse,
    Patient,
    Problem,
    ProblemCategory,
    Route,
)

_ids = count(1)

UNITS = {
    Analyte.B12_TOTAL: "ng/L",
    Analyte.B12_ACTIVE: "pmol/L",
    Analyte.MMA: "umol/L",
    Analyte.HOMOCYSTEINE: "umol/L",
    Analyte.HAEMOGLOBIN: "g/dL",
    Analyte.MCV: "fL",
    Analyte.PLATELETS: "10*3/uL",
    Analyte.EGFR: "mL/min/{1.73_m2}",
    Analyte.FOLATE: "ng/mL",
}
LOINC = {
    Analyte.B12_TOTAL: "2132-9",
    Analyte.B12_ACTIVE: "72160-5",
    Analyte.MMA: "13964-2",
    Analyte.HAEMOGLOBIN: "718-7",
    Analyte.MCV: "787-2",
    Analyte.EGFR: "98979-8",
}


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def lab(
    analyte: Analyte,
    value: float | None,
    *,
    on: date | None = None,
    comparator: str = "=",
    reported: str | None = None,
    high: float | None = None,
    flag: Interpretation | None = None,
    code: str | None = None,
    issues: tuple = (),
    status: str = "final",
) -> LabResult:
    unit = UNITS[analyte]
    comp = Comparator(comparator)
    shown = "" if comp is Comparator.EQ else comp.value
    return LabResult(
        analyte=analyte,
        value=value,
        unit=unit,
        comparator=comp,
        effective=on or days_ago(10),
        status=status,
        reported=reported
        if reported is not None
        else f"{shown}{value:g} {unit}"
        if value is not None
        else "",
        reference_high=high,
        interpretation=flag,
        issues=issues,
        source_ref=f"Observation/{analyte.value}-{next(_ids)}",
        code=code or LOINC.get(analyte, ""),
    )


def b12(value: float, **kw) -> LabResult:
    return lab(Analyte.B12_TOTAL, value, **kw)


def b12_pmol(pmol: float, **kw) -> LabResult:
    """A total B12 reported in pmol/L, as the chart hands it over: converted x 1.355 to ng/L."""
    return lab(Analyte.B12_TOTAL, pmol * 1.355, reported=f"{pmol:g} pmol/L", code="14685-2", **kw)


def active(value: float, **kw) -> LabResult:
    return lab(Analyte.B12_ACTIVE, value, **kw)


def mma(value: float, **kw) -> LabResult:
    return lab(Analyte.MMA, value, **kw)


def egfr(value: float, **kw) -> LabResult:
    return lab(Analyte.EGFR, value, **kw)


def med(
    med_class: MedicationClass,
    *,
    ingredient: str | None = None,
    route: Route = Route.ORAL,
    dose_mg: float | None = None,
    start: date | None = None,
    end: date | None = None,
    active: bool = True,
    draft: bool = False,
    ref: str | None = None,
) -> MedicationUse:
    name = ingredient or med_class.value.replace("_", " ")
    return MedicationUse(
        med_class=med_class,
        ingredient=name,
        display=name,
        route=route,
        daily_dose_mg=dose_mg,
        start=start,
        end=end,
        active=active,
        is_draft=draft,
        source_ref=ref or f"MedicationRequest/{med_class.value}-{next(_ids)}",
        matched_by="text:" + name,
    )


def folic_acid_draft(dose_mg: float | None = 5, ref: str = "MedicationRequest/folic-1") -> MedicationUse:
    return med(
        MedicationClass.FOLIC_ACID,
        ingredient="folic acid",
        dose_mg=dose_mg,
        draft=True,
        active=True,  # a live draft, as the chart reads status draft / active / on-hold
        ref=ref,
    )


def hydroxocobalamin(*, start: date | None = None, draft: bool = False) -> MedicationUse:
    return med(
        MedicationClass.B12_THERAPY,
        ingredient="hydroxocobalamin",
        route=Route.INTRAMUSCULAR,
        dose_mg=None,
        start=start or days_ago(30),
        draft=draft,
        active=True,  # on record and current, or a live draft
    )


def problem(
    category: ProblemCategory,
    *,
    active: bool = True,
    clinical_status: str = "active",
    verification: str = "confirmed",
    onset: date | None = None,
) -> Problem:
    return Problem(
        category=category,
        display=category.value.replace("_", " "),
        clinical_status=clinical_status,
        verification_status=verification,
        onset=onset or days_ago(400),
        active=active,
        source_ref=f"Condition/{category.value}-{next(_ids)}",
    )


def pregnancy(weeks: int = 11) -> Problem:
    """A current pregnancy: onset ``weeks`` ago (B12-RULES.md §7 counts the last 42 weeks)."""
    return problem(ProblemCategory.PREGNANCY, onset=days_ago(7 * weeks))


def chart(
    *,
    labs=(),
    meds=(),
    drafts=(),
    problems=(),
    sex: str | None = "female",
    birth: date | None = date(1980, 6, 1),
    missing=(),
    today: date = TODAY,
    notes=(),
) -> Chart:
    """Build a chart from facts directly (``builders.fhir.chart_from_fhir`` reads one from FHIR resources)."""
    return Chart(
        today=today,
        patient=Patient(id="p1", sex=sex, birth_date=birth),
        labs=tuple(labs),
        medications=tuple(meds),
        draft_orders=tuple(drafts),
        problems=tuple(problems),
        missing=frozenset(missing),
        notes=tuple(notes),
    )
