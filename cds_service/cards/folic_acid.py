"""folic-acid-safety (order-select / order-sign): B12-RULES.md §5, folic acid table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..chart.facts import Chart
from ..knowledge.clinical import ClinicalKnowledge, load_clinical_knowledge
from ..protocol.response import Card, Indicator, Suggestion
from ..rules.assessment import B12Assessment, assess
from ..rules.b12_status import B12StatusCode, DeficiencyBasis
from ..rules.findings import is_pregnant
from ..rules.medicines import FolicAcidOrder, folic_acid_in_draft_orders, standard_pregnancy_dose
from ..rules.therapy import b12_replacement_in_drafts
from . import detail
from .common import make_card, sections
from .patient_view import NEXT_TEST
from .resources import delete_suggestion, lab_suggestion, regimen_suggestion
from .texts import CardTexts, card_texts

if TYPE_CHECKING:
    from . import CardContext


def evaluate_folic_acid_safety(chart: Chart, ctx: CardContext) -> list[Card]:
    """One card when folic acid is being ordered while B12 deficiency is present or not excluded."""
    kb = load_clinical_knowledge()
    texts = card_texts("folic_acid_safety", ctx.texts, kb)
    # Why: §5 - order-select judges only the selected drafts; order-sign judges every draft.
    selections = ctx.selections if ctx.hook == "order-select" else None
    found = folic_acid_in_draft_orders(chart, kb, selections)
    if not found:
        return []
    # Why: §5 - B12 therapy anywhere in this order session (selected or not) is "B12 alongside".
    if b12_replacement_in_drafts(chart.draft_orders, kb):
        return []
    a = assess(chart, kb)
    pregnant = is_pregnant(chart, kb).present
    # Why: the "standard pregnancy supplementation" override reason only makes sense in pregnancy.
    card = _card(a, found, ctx, texts, kb, frozenset({"pregnant"}) if pregnant else frozenset())
    if card is None:
        return []
    if (pregnant and standard_pregnancy_dose(found, kb)
            and not a.status.confirmed_deficiency):
        # Why: §5 - 0.4-5 mg folic acid is standard pregnancy care; unless deficiency is
        # confirmed the card stays but drops to info.
        card = _lowered_for_pregnancy(card, texts, a)
    # The drafts the card is about: an override at order-select then spares the same drafts at order-sign.
    return [card.about(o.use.source_ref for o in found)]


def _lowered_for_pregnancy(card: Card, texts: CardTexts, a: B12Assessment) -> Card:
    """Info, and say why: the pregnancy note replaces the lead paragraph (B12-RULES.md §7).

    Why: "check B12 before starting folic acid" must not delay standard pregnancy folic acid; the
    note says so, and the orders and values used stay below it.
    """
    note = texts.pregnancy_note
    if note is None:  # parse_card_texts requires it; kept for type checkers
        return card.model_copy(update={"indicator": Indicator.INFO})
    rest = card.detail.split("\n\n", 1)[1] if "\n\n" in card.detail else ""
    lead = note.text.format(decision=a.status.reason)
    return card.model_copy(update={"indicator": Indicator.INFO, "summary": note.summary,
                                   "detail": detail.tidy(f"{lead}\n\n{rest}")})


def _card(a: B12Assessment, found: tuple[FolicAcidOrder, ...], ctx: CardContext, texts: CardTexts,
          kb: ClinicalKnowledge, applies: frozenset[str]) -> Card | None:
    s = texts.suggestions
    code = a.status.code
    drafts = frozenset(o.use.source_ref for o in found)
    values = sections(a, kb, orders=detail.orders(found), notes=detail.notes(a, kb, drafts))
    if code is B12StatusCode.DEFICIENT:
        key = "hydroxocobalamin_neuro" if a.neuro.present else "hydroxocobalamin_standard"
        values["regimen"] = detail.regimen(a, kb, key)
        suggestions: list[Suggestion] = [regimen_suggestion(s[key].label, key, ctx, kb, recommended=True)]
        refs = tuple((o.use.source_ref, o.use.display) for o in found if o.use.source_ref)
        if refs:
            # Why: §5 - offer removing the folic acid draft; not recommended, B12 alongside is acceptable.
            suggestions.append(delete_suggestion(s["remove_folic_acid"].label, refs, ctx))
        # Why: §3.2 - a probable functional deficiency is called "probable" in the summary too.
        probable = a.status.basis is DeficiencyBasis.PROBABLE_FUNCTIONAL
        return make_card(ctx, texts, kb, "folate_deficient", Indicator.CRITICAL, values, suggestions,
                         variant="probable" if probable else None, applies=applies)
    if code is B12StatusCode.INDETERMINATE:
        suggestions = [lab_suggestion(s[NEXT_TEST[t][1]].label, (NEXT_TEST[t][0],), ctx, kb, recommended=True)
                       for t in a.status.next_tests]
        # Why (b12-cds judgement): renal caveat with active B12 already borderline - no test to
        # offer; the wording says MMA cannot settle it and repeats §1 (B12 first or alongside).
        return make_card(ctx, texts, kb, "folate_indeterminate", Indicator.WARNING, values, suggestions,
                         variant="unresolved" if a.status.unresolved else None, applies=applies)
    if code is B12StatusCode.NOT_TESTED:
        b12_test = lab_suggestion(s["order_b12"].label, ("b12_total",), ctx, kb, recommended=True)
        if a.folate_risk:
            mma = lab_suggestion(s["order_mma"].label, ("mma",), ctx, kb, recommended=False)
            return make_card(ctx, texts, kb, "folate_not_tested_risk", Indicator.WARNING, values,
                             [b12_test, mma], applies=applies)
        # Why (b12-cds judgement): §5 allows "info at most"; §1 says never folic acid alone when
        # deficiency is not excluded, so an untested patient gets a quiet info card, not silence.
        return make_card(ctx, texts, kb, "folate_not_tested", Indicator.INFO, values, [b12_test],
                         applies=applies)
    return None  # NOT_DEFICIENT (recent) or ON_TREATMENT: §5 no card
