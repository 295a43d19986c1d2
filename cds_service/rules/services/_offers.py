"""Offers shared by the B12 services: the next test after an indeterminate result, the regimen."""

from __future__ import annotations

from ...chart.facts import Analyte
from ..assessment import B12Assessment
from ..b12_status import DeficiencyBasis
from ..decision import Labs, Regimen

#: analyte -> (lab test key in clinical.json, suggestion label in the card texts)
NEXT_TEST = {Analyte.MMA: ("mma", "order_mma"), Analyte.B12_ACTIVE: ("b12_active", "order_active_b12"),
             Analyte.B12_TOTAL: ("b12_total", "order_b12")}
NEXT_TEST_LABELS = tuple(label for _, label in NEXT_TEST.values())


def next_tests(a: B12Assessment) -> tuple[Labs, ...]:
    """The tests that can settle an indeterminate B12 (B12-RULES.md §3.3), in the status's order."""
    return tuple(Labs(NEXT_TEST[t][1], (NEXT_TEST[t][0],)) for t in a.status.next_tests)


def treatment(a: B12Assessment) -> Regimen:
    """IM hydroxocobalamin, on alternate days with neurological involvement (§5 rows 1-2; BNF)."""
    return Regimen("hydroxocobalamin_neuro" if a.neuro.present else "hydroxocobalamin_standard")


def probable(a: B12Assessment) -> str | None:
    """Why: §3.2 calls 350-500 ng/L with raised MMA "probable functional"; the summary must say so."""
    return "probable" if a.status.basis is DeficiencyBasis.PROBABLE_FUNCTIONAL else None
