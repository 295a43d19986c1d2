"""b12-status (patient-view): the cards of B12-RULES.md §5, patient-view table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..chart.facts import Analyte, Chart
from ..knowledge.clinical import ClinicalKnowledge, load_clinical_knowledge
from ..protocol.response import Card, Indicator
from ..rules.assessment import B12Assessment, assess
from ..rules.b12_status import B12StatusCode, DeficiencyBasis
from . import detail
from .common import make_card, sections
from .resources import lab_suggestion, regimen_suggestion
from .texts import CardTexts, card_texts

if TYPE_CHECKING:
    from . import CardContext

# analyte -> (lab test key in clinical.json, suggestion key in the card texts)
NEXT_TEST = {Analyte.MMA: ("mma", "order_mma"), Analyte.B12_ACTIVE: ("b12_active", "order_active_b12"),
             Analyte.B12_TOTAL: ("b12_total", "order_b12")}


def evaluate_b12_status(chart: Chart, ctx: CardContext) -> list[Card]:
    """Status card (or silence) plus the pure-motor-neuropathy card when coded."""
    if chart.patient is not None and chart.patient.deceased:
        return []  # Why: B12-RULES.md §7 - a deceased patient gets no patient-view card at all.
    kb = load_clinical_knowledge()
    texts = card_texts("b12_status", ctx.texts, kb)
    a = assess(chart, kb)
    cards = [card for card in (_status_card(a, ctx, texts, kb),) if card is not None]
    if a.pure_motor.present:
        # Why: seed 000 - pure motor neuropathy is atypical for B12: prompt other diagnoses.
        cards.append(make_card(ctx, texts, kb, "pure_motor", Indicator.INFO, sections(a, kb)))
    return cards


def _status_card(a: B12Assessment, ctx: CardContext, texts: CardTexts, kb: ClinicalKnowledge) -> Card | None:
    code = a.status.code
    if code is B12StatusCode.DEFICIENT:
        return deficient_card(a, ctx, texts, kb)
    if code is B12StatusCode.INDETERMINATE:
        return _indeterminate_card(a, ctx, texts, kb)
    if code is B12StatusCode.NOT_TESTED and a.warrants_testing:
        return _not_tested_card(a, ctx, texts, kb)
    if code is B12StatusCode.ON_TREATMENT and a.reassessment.due:
        # Why: 002/004 - reassess B12, MMA, homocysteine (and platelets, in the text) after 3 months.
        label = texts.suggestions["order_reassessment"].label
        suggestion = lab_suggestion(label, ("b12_total", "mma", "homocysteine"), ctx, kb, recommended=True)
        return make_card(ctx, texts, kb, "reassess", Indicator.INFO, sections(a, kb), [suggestion])
    return None  # Why: §5 - silence is a feature when there is nothing to do.


def deficient_card(a: B12Assessment, ctx: CardContext, texts: CardTexts, kb: ClinicalKnowledge) -> Card:
    """Treat: IM hydroxocobalamin; the oral alternative only without neuro signs or malabsorption."""
    s = texts.suggestions
    # Why: §3.2 calls 350-500 ng/L + raised MMA "probable functional"; the summary must say so.
    probable = a.status.basis is DeficiencyBasis.PROBABLE_FUNCTIONAL
    if a.neuro.present:
        # Why: §5 row 1 / BNF - IM on alternate days with neurological involvement; the brief's
        # stricter reading of §5 (no oral alternative at all with neuro signs) is followed (004's caution).
        im = regimen_suggestion(s["hydroxocobalamin_neuro"].label, "hydroxocobalamin_neuro", ctx, kb,
                                recommended=True)
        values = sections(a, kb, regimen=detail.regimen(a, kb, "hydroxocobalamin_neuro"))
        return make_card(ctx, texts, kb, "deficient_neuro", Indicator.CRITICAL, values, [im],
                         variant="probable" if probable else None)
    im = regimen_suggestion(s["hydroxocobalamin_standard"].label, "hydroxocobalamin_standard", ctx, kb,
                            recommended=True)
    values = sections(a, kb, regimen=detail.regimen(a, kb, "hydroxocobalamin_standard"))
    if a.malabsorption.present:
        # Why: §4 / 002 - with a malabsorption cause oral absorption is too undependable: IM only,
        # and the summary must not offer oral.
        variant = "probable_malabsorption" if probable else "malabsorption"
        return make_card(ctx, texts, kb, "deficient", Indicator.WARNING, values, [im], variant=variant)
    oral = regimen_suggestion(s["cyanocobalamin_oral"].label, "cyanocobalamin_oral", ctx, kb,
                              recommended=False)
    # Why: IM and oral are alternatives - accepting both would double-treat (see make_card on Epic).
    return make_card(ctx, texts, kb, "deficient", Indicator.WARNING, values, [im, oral],
                     selection="at-most-one", variant="probable" if probable else None)


def _indeterminate_card(a: B12Assessment, ctx: CardContext, texts: CardTexts, kb: ClinicalKnowledge) -> Card:
    s = texts.suggestions
    indicator = Indicator.WARNING if a.neuro.present else Indicator.INFO
    suggestions = [lab_suggestion(s[NEXT_TEST[t][1]].label, (NEXT_TEST[t][0],), ctx, kb, recommended=True)
                   for t in a.status.next_tests]
    optional = ""
    if Analyte.MMA in a.status.next_tests:
        # Why: §3.3 - homocysteine is optional (raised in folate deficiency and after nitrous oxide too).
        suggestions.append(lab_suggestion(s["order_homocysteine"].label, ("homocysteine",), ctx, kb,
                                          recommended=False))
        optional = f" {s['order_homocysteine'].detail}" if s["order_homocysteine"].detail else ""
    # Why (b12-cds judgement): with the renal caveat and active B12 already borderline there is no
    # next test to offer; the "unresolved" wording says so instead of asking for MMA (§3 caveat).
    variant = "unresolved" if a.status.unresolved else None
    return make_card(ctx, texts, kb, "indeterminate", indicator, sections(a, kb, optional_test=optional),
                     suggestions, variant=variant)


def _not_tested_card(a: B12Assessment, ctx: CardContext, texts: CardTexts, kb: ClinicalKnowledge) -> Card:
    s = texts.suggestions
    # Why: §5 "suggest serum B12 (MMA if borderline)" - MMA follows an indeterminate result, as the
    # card says, so it is not offered alongside the first test (B12-RULES.md §9: text and orders agree).
    suggestions = [lab_suggestion(s["order_b12"].label, ("b12_total",), ctx, kb, recommended=True)]
    indicator = Indicator.WARNING if a.neuro.present else Indicator.INFO
    return make_card(ctx, texts, kb, "not_tested", indicator, sections(a, kb), suggestions)
