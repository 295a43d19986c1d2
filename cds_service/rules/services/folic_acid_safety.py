"""folic-acid-safety (order-select and order-sign): the folic acid table of B12-RULES.md §5."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...chart.facts import Chart
from ...knowledge import Knowledge
from ..assessment import B12Assessment, assess
from ..b12_status import B12StatusCode
from ..decision import Call, Decision, Labs, Level, Offer, RemoveDrafts, Row, RuleModule, first_row, register
from ..findings import is_pregnant
from ..medicines import DraftFinding, folic_acid_in_draft_orders, standard_pregnancy_dose
from ..therapy import b12_replacement_in_drafts
from ._offers import NEXT_TEST_LABELS, next_tests, probable, treatment


@dataclass(frozen=True)
class FolicAcidOrdered:
    """Folic acid is being ordered: the B12 picture, and the drafts that triggered."""

    a: B12Assessment
    found: tuple[DraftFinding, ...]


def _treat_and_offer_removal(s: FolicAcidOrdered) -> tuple[Offer, ...]:
    refs = tuple((o.use.source_ref, o.use.display) for o in s.found if o.use.source_ref)
    # Why: §5 - offer removing the folic acid draft; not recommended, B12 alongside is acceptable.
    return (treatment(s.a), *((RemoveDrafts("remove_folic_acid", refs),) if refs else ()))


def _unresolved(s: FolicAcidOrdered) -> str | None:
    # Why (b12-cds judgement): renal caveat with active B12 already borderline - no test to offer;
    # the wording says MMA cannot settle it and repeats §1 (B12 first or alongside).
    return "unresolved" if s.a.status.unresolved else None


CODE = B12StatusCode
#: B12 picture -> card; no row (not deficient and recent, or on B12 therapy): no card.
TABLE = (
    Row("deficient", lambda s: s.a.status.code is CODE.DEFICIENT, "folate_deficient", Level.CRITICAL,
        offers=_treat_and_offer_removal, variant=lambda s: probable(s.a),
        suggestions=("hydroxocobalamin_neuro", "hydroxocobalamin_standard", "remove_folic_acid"),
        variants=("probable",)),
    Row("indeterminate", lambda s: s.a.status.code is CODE.INDETERMINATE, "folate_indeterminate", Level.WARNING,
        offers=lambda s: next_tests(s.a), variant=_unresolved,
        suggestions=NEXT_TEST_LABELS, variants=("unresolved",)),
    Row("not tested, with neurological involvement, macrocytosis or anaemia, or risk factors",
        lambda s: s.a.status.code is CODE.NOT_TESTED and s.a.folate_risk, "folate_not_tested_risk", Level.WARNING,
        offers=lambda s: (Labs("order_b12", ("b12_total",)), Labs("order_mma", ("mma",), recommended=False)),
        suggestions=("order_b12", "order_mma")),
    # Why (b12-cds judgement): §5 allows "info at most"; §1 says never folic acid alone when deficiency
    # is not excluded, so an untested patient gets a quiet info card, not silence.
    Row("not tested, nothing else", lambda s: s.a.status.code is CODE.NOT_TESTED, "folate_not_tested", Level.INFO,
        offers=lambda s: (Labs("order_b12", ("b12_total",)),), suggestions=("order_b12",)),
)


def decide(chart: Chart, kb: Knowledge, call: Call) -> tuple[Decision, ...]:
    """One card when folic acid is being ordered while B12 deficiency is present or not excluded."""
    # Why: §5 - order-select judges only the selected drafts; order-sign judges every draft.
    found = folic_acid_in_draft_orders(chart, kb, call.selections if call.hook == "order-select" else None)
    # Why: §5 - B12 therapy anywhere in this order session (selected or not) is "B12 alongside".
    if not found or b12_replacement_in_drafts(chart.draft_orders, kb):
        return ()
    situation = FolicAcidOrdered(assess(chart, kb), found)
    row = first_row(TABLE, situation)
    if row is None:
        return ()
    a = situation.a
    pregnant = is_pregnant(chart, kb).present
    # Why: the "standard pregnancy supplementation" override reason only makes sense in pregnancy.
    decision = row.decide(situation, a, orders=found, applies=frozenset({"pregnant"}) if pregnant else frozenset())
    if pregnant and standard_pregnancy_dose(found, kb) and not a.status.confirmed_deficiency:
        # Why: §5 - 0.4-5 mg folic acid is standard pregnancy care; unless deficiency is confirmed the
        # card stays but drops to info, and its pregnancy note says why (B12-RULES.md §7).
        decision = dataclasses.replace(decision, level=Level.INFO, lead="pregnancy")
    return (decision,)


RULES = register(RuleModule(name="folic_acid_safety", decide=decide, rows=TABLE, notes=("pregnancy",)))
