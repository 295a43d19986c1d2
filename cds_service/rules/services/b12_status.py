"""b12-status (patient-view): the patient-view table of B12-RULES.md §5."""

from __future__ import annotations

from ...chart.facts import Analyte, Chart
from ...knowledge import Knowledge
from ..assessment import B12Assessment, assess
from ..b12_status import B12StatusCode
from ..decision import Call, Decision, Labs, Level, Regimen, Row, RuleModule, first_row, register
from ._offers import NEXT_TEST_LABELS, next_tests, probable, treatment

DEFICIENT, INDETERMINATE = B12StatusCode.DEFICIENT, B12StatusCode.INDETERMINATE
NOT_TESTED, ON_TREATMENT = B12StatusCode.NOT_TESTED, B12StatusCode.ON_TREATMENT


def _warning_with_neuro(a: B12Assessment) -> Level:
    return Level.WARNING if a.neuro.present else Level.INFO


def _indeterminate_offers(a: B12Assessment) -> tuple[Labs, ...]:
    # Why: §3.3 - homocysteine is optional (raised in folate deficiency and after nitrous oxide too).
    optional = (Labs("order_homocysteine", ("homocysteine",), recommended=False),)
    return next_tests(a) + (optional if Analyte.MMA in a.status.next_tests else ())


def _malabsorption_wording(a: B12Assessment) -> str:
    return "probable_malabsorption" if probable(a) else "malabsorption"


def _unresolved(a: B12Assessment) -> str | None:
    # Why (b12-cds judgement): with the renal caveat and active B12 already borderline there is no
    # next test to offer; the "unresolved" wording says so instead of asking for MMA (§3 caveat).
    return "unresolved" if a.status.unresolved else None


#: The B12 status card (first row that holds); no row: silence, a feature when there is nothing to do.
STATUS = (
    Row("deficient, not on treatment, with neurological involvement",
        lambda a: a.status.code is DEFICIENT and a.neuro.present,
        "deficient_neuro", Level.CRITICAL,
        # Why: §5 row 1 / BNF - IM on alternate days with neurological involvement; no oral
        # alternative at all with neuro signs (the stricter reading, 004's caution).
        offers=lambda a: (treatment(a),), variant=probable,
        suggestions=("hydroxocobalamin_neuro",), variants=("probable",)),
    Row("deficient, not on treatment, a malabsorption cause on record",
        lambda a: a.status.code is DEFICIENT and a.malabsorption.present,
        "deficient", Level.WARNING,
        # Why: §4 / 002 - oral absorption is too undependable: IM only, and the summary must not offer oral.
        offers=lambda a: (treatment(a),), variant=_malabsorption_wording,
        suggestions=("hydroxocobalamin_standard",), variants=("malabsorption", "probable_malabsorption")),
    Row("deficient, not on treatment, without neurological involvement",
        lambda a: a.status.code is DEFICIENT,
        "deficient", Level.WARNING,
        # Why: IM and oral are alternatives - accepting both would double-treat (at-most-one).
        offers=lambda a: (treatment(a), Regimen("cyanocobalamin_oral", recommended=False)),
        alternatives=True, variant=probable,
        suggestions=("hydroxocobalamin_standard", "cyanocobalamin_oral"), variants=("probable",)),
    Row("indeterminate (warning with neurological involvement)",
        lambda a: a.status.code is INDETERMINATE,
        "indeterminate", _warning_with_neuro, offers=_indeterminate_offers, variant=_unresolved,
        suggestions=(*NEXT_TEST_LABELS, "order_homocysteine"), variants=("unresolved",)),
    Row("not tested (or stale) with neurological involvement, macrocytosis or anaemia, a risk medicine "
        "past its duration or a malabsorption cause (warning with neurological involvement)",
        lambda a: a.status.code is NOT_TESTED and a.warrants_testing,
        # Why: §5 "serum B12 (MMA if borderline)" - MMA follows an indeterminate result, as the card
        # says, so it is not offered alongside the first test (B12-RULES.md §9: text and orders agree).
        "not_tested", _warning_with_neuro, offers=lambda a: (Labs("order_b12", ("b12_total",)),),
        suggestions=("order_b12",)),
    Row("on treatment for 3 months or more with no B12 or MMA since starting",
        lambda a: a.status.code is ON_TREATMENT and a.reassessment.due,
        # Why: 002/004 - reassess B12, MMA, homocysteine (and platelets, in the text) after 3 months.
        "reassess", Level.INFO, offers=lambda a: (Labs("order_reassessment", ("b12_total", "mma", "homocysteine")),),
        suggestions=("order_reassessment",)),
)

#: A second card beside the status card.
EXTRA = (
    # Why: seed 000 - pure motor neuropathy is atypical for B12: prompt other diagnoses.
    Row("neuropathy coded as purely motor", lambda a: a.pure_motor.present, "pure_motor", Level.INFO),
)


def status_decision(a: B12Assessment) -> Decision | None:
    """The status card's decision alone (other services defer to it, B12-RULES.md §8)."""
    row = first_row(STATUS, a)
    return row.decide(a, a) if row else None


def decide(chart: Chart, kb: Knowledge, call: Call) -> tuple[Decision, ...]:
    """The status card (or silence) plus the pure-motor-neuropathy card when coded."""
    if chart.patient is not None and chart.patient.deceased:
        return ()  # Why: B12-RULES.md §7 - a deceased patient gets no patient-view card at all.
    a = assess(chart, kb)
    extra = first_row(EXTRA, a)
    return tuple(d for d in (status_decision(a), extra.decide(a, a) if extra else None) if d is not None)


RULES = register(RuleModule(name="b12_status", decide=decide, rows=(*STATUS, *EXTRA)))
