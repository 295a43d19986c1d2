"""Haematological signs: supportive only, their absence proves nothing (B12-RULES.md §1, §4)."""

from __future__ import annotations

from dataclasses import dataclass

from ..chart.facts import Analyte, Chart, Interpretation, LabResult
from ..knowledge import Knowledge
from .labs import known_above, known_below, latest_usable_result


@dataclass(frozen=True)
class HaematologicalSigns:
    """Macrocytosis and anaemia from the most recent usable blood count."""

    macrocytosis: LabResult | None  # the MCV that shows it
    anaemia: LabResult | None  # the haemoglobin that shows it
    anaemia_by: str | None  # "lab low flag" or "below 12 g/dL (female)"
    notes: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        return self.macrocytosis is not None or self.anaemia is not None


_NO_SIGNS = HaematologicalSigns(macrocytosis=None, anaemia=None, anaemia_by=None)  # frozen: one serves every call


def haematological_signs(chart: Chart, kb: Knowledge) -> HaematologicalSigns:
    """MCV > 100 fL; anaemia by the lab's low flag, else Hb below the sex-specific threshold."""
    t = kb.thresholds
    mcv = latest_usable_result(chart, Analyte.MCV, kb)
    macro = mcv if mcv is not None and known_above(mcv, t.mcv_macrocytosis_above.value) else None
    hb = latest_usable_result(chart, Analyte.HAEMOGLOBIN, kb)
    anaemia, how = None, None
    if hb is not None and hb.interpretation is not None:
        # Why: §4 - the lab's own flag knows its population and method; it wins over our cut-offs.
        if hb.interpretation is Interpretation.LOW:
            anaemia, how = hb, "flagged low by the lab"
    elif hb is not None:
        sex = chart.patient.sex if chart.patient else None
        male = t.haemoglobin_anaemia_below_male
        female = t.haemoglobin_anaemia_below_female
        # Why (b12-cds judgement): with sex unknown, call anaemia only below both cut-offs
        # (the female one); the sign is supportive and a normal CBC never reassures anyway.
        limit = male if sex == "male" else female
        if known_below(hb, limit.value):
            who = "male" if sex == "male" else "female" if sex == "female" else "sex not recorded"
            anaemia, how = hb, f"below {limit.value:g} {limit.unit} ({who})"
    if macro is None and anaemia is None:
        return _NO_SIGNS
    return HaematologicalSigns(macrocytosis=macro, anaemia=anaemia, anaemia_by=how)
