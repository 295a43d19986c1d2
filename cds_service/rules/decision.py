"""What a service decides: one :class:`Decision` per card, read off a table of rows.

A service is one ``hooks/<id>.json`` plus one rule module in :mod:`cds_service.rules.services`.
The module states its decision as rows shaped like the tables of B12-RULES.md §5 and §8
(situation -> kind, level, what to offer), in the spirit of the declared condition expressions
of AHRQ CQL Services, and registers itself with :func:`register`. The cards layer renders a
Decision with the service's card texts; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ..chart.facts import Chart
from ..knowledge import Knowledge
from .assessment import B12Assessment
from .medicines import DraftFinding

S = TypeVar("S")


class Level(StrEnum):
    """How urgent the card is (CDS Hooks ``indicator``)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Call:
    """What a rule may know of the hook call."""

    hook: str  # "patient-view", "order-select" or "order-sign"
    selections: tuple[str, ...] = ()  # order-select: the selected drafts ("MedicationRequest/x")
    parameters: Any = None  # the service's x-b12cds.parameters, parsed by RuleModule.parameters


@dataclass(frozen=True)
class Regimen:
    """Offer a B12 regimen; ``key`` names the regimen in clinical.json and its label in the texts."""

    key: str
    recommended: bool = True


@dataclass(frozen=True)
class Labs:
    """Offer laboratory tests (keys of clinical.json ``labTests``) under the label ``key``."""

    key: str
    tests: tuple[str, ...]
    recommended: bool = True


@dataclass(frozen=True)
class RemoveDrafts:
    """Offer removing draft orders: (reference, name as the EHR shows it)."""

    key: str
    drafts: tuple[tuple[str, str], ...]


Offer = Regimen | Labs | RemoveDrafts


@dataclass(frozen=True)
class Span:
    """A length of time a card names ("3 years", "12 months")."""

    months: int


Fact = date | Span | str


@dataclass(frozen=True)
class Decision:
    """One card to show: which kind, how urgent, what it offers, and the evidence it shows."""

    kind: str  # a kind of the card texts
    level: Level
    evidence: B12Assessment  # the values, context and data-quality notes the card shows
    offers: tuple[Offer, ...] = ()
    alternatives: bool = False  # the offers are alternatives (selectionBehavior "at-most-one")
    variant: str | None = None  # a wording of the kind ("probable", "malabsorption")
    applies: frozenset[str] = frozenset()  # what holds for the patient ("pregnant"): override reasons
    lead: str | None = None  # a note of the texts that replaces the lead paragraph ("pregnancy")
    orders: tuple[DraftFinding, ...] = ()  # the drafts the card is about
    facts: Mapping[str, Fact] = field(default_factory=dict)  # the module's own placeholders


def _no_offers(_situation: Any) -> tuple[Offer, ...]:
    return ()


def _no_variant(_situation: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Row(Generic[S]):
    """One row of a service's table: when ``when`` holds for the situation, this card."""

    situation: str  # the row in words, as the specification's table says it
    when: Callable[[S], bool]
    kind: str
    level: Level | Callable[[S], Level]
    offers: Callable[[S], tuple[Offer, ...]] = _no_offers
    alternatives: bool = False
    variant: Callable[[S], str | None] = _no_variant
    suggestions: tuple[str, ...] = ()  # every suggestion label the row may offer (checked at start-up)
    variants: tuple[str, ...] = ()  # every wording it may pick (checked at start-up)

    def decide(self, situation: S, evidence: B12Assessment, **more: Any) -> Decision:
        """This row's Decision for the situation (``more``: orders, applies, facts, lead)."""
        level = self.level if isinstance(self.level, Level) else self.level(situation)
        return Decision(kind=self.kind, level=level, evidence=evidence, offers=self.offers(situation),
                        alternatives=self.alternatives, variant=self.variant(situation), **more)


def first_row(rows: tuple[Row[S], ...], situation: S) -> Row[S] | None:
    """The first row whose condition holds (rows are read top to bottom, as in the tables)."""
    return next((row for row in rows if row.when(situation)), None)


Decide = Callable[[Chart, Knowledge, Call], tuple[Decision, ...]]


@dataclass(frozen=True)
class RuleModule:
    """A service's rules: its decision, its table, and what its card texts must define."""

    name: str  # x-b12cds.evaluator in the service's hooks JSON
    decide: Decide
    rows: tuple[Row[Any], ...]
    notes: tuple[str, ...] = ()  # lead notes the texts must define (Decision.lead)
    placeholders: Mapping[str, str] = field(default_factory=dict)  # own {placeholder} -> longest sample
    parameters: type[BaseModel] | None = None  # schema of x-b12cds.parameters
    uses: tuple[str, ...] = ()  # other modules whose decisions this one returns

    @property
    def kinds(self) -> dict[str, tuple[str, ...]]:
        """Every kind its table can give, with the wordings each may pick (its own and ``uses``)."""
        kinds: dict[str, tuple[str, ...]] = {}
        for row in self.all_rows():
            kinds[row.kind] = tuple(dict.fromkeys((*kinds.get(row.kind, ()), *row.variants)))
        return kinds

    @property
    def suggestions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for row in self.all_rows() for key in row.suggestions))

    def all_rows(self) -> tuple[Row[Any], ...]:
        return (*self.rows, *(row for name in self.uses for row in RULE_MODULES[name].all_rows()))


RULE_MODULES: dict[str, RuleModule] = {}


def register(module: RuleModule) -> RuleModule:
    """Make a rule module available to hooks JSON files under its name."""
    if module.name in RULE_MODULES and RULE_MODULES[module.name] is not module:
        raise ValueError(f"rule module {module.name!r} is registered twice")
    RULE_MODULES[module.name] = module
    return module
