"""B12 replacement: on record or among the draft orders (B12-RULES.md §3.1, §5)."""

from __future__ import annotations

from collections.abc import Iterable

from ..chart.facts import Chart, MedicationClass, MedicationUse, Route
from ..knowledge import Knowledge

_PARENTERAL = frozenset({Route.INTRAMUSCULAR, Route.SUBCUTANEOUS, Route.INJECTION})


def counts_as_b12_replacement(use: MedicationUse, kb: Knowledge) -> bool:
    """Injected B12 always counts; any other route only at >= 1 mg/day.

    Why: §3.1 - "hydroxocobalamin or cyanocobalamin injection, or oral >= 1 mg/day".
    b12-cds judgement: nasal, sublingual, unknown route and unknown dose are held to the
    oral rule, so a low-dose supplement never silences a warning.
    """
    if use.med_class is not MedicationClass.B12_THERAPY:
        return False
    if use.route in _PARENTERAL:
        return True
    minimum = kb.thresholds.oral_b12_therapy_min_mg_per_day.value
    return use.daily_dose_mg is not None and use.daily_dose_mg >= minimum


def active_b12_replacement(chart: Chart, kb: Knowledge) -> tuple[MedicationUse, ...]:
    """Active B12 replacement on the record (not drafts)."""
    return tuple(u for u in chart.medications
                 if u.active and not u.is_draft and counts_as_b12_replacement(u, kb))


def b12_replacement_in_drafts(drafts: Iterable[MedicationUse],
                              kb: Knowledge) -> tuple[MedicationUse, ...]:
    """Live B12 replacement being ordered now (§5: "B12 therapy in the same draft orders" -> no card).

    Why: a cancelled or stopped draft will not be given, so it is not B12 alongside.
    """
    return tuple(u for u in drafts if u.active and counts_as_b12_replacement(u, kb))


def low_dose_b12(chart: Chart, kb: Knowledge) -> tuple[MedicationUse, ...]:
    """Active B12 products that do not count as replacement (to say so on the card)."""
    return tuple(u for u in chart.medications if u.active and u.med_class is MedicationClass.B12_THERAPY
                 and not counts_as_b12_replacement(u, kb))
