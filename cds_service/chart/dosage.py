"""Dosage -> route and daily dose in mg, where the record says enough to compute them."""

from __future__ import annotations

import functools
import re
from datetime import date

from cds_service.knowledge import Knowledge, normalise_text

from .facts import Route
from .fhir_types import JSON, as_dict, as_items, as_number, as_str, codings, period_date
from .matching import match_concept
from .med_concepts import Product
from .quantities import Unit, quantity_units, unit_multiplier
from .strength import Strength, named_strength


def dosages(resource: JSON) -> list[JSON]:
    """Return MedicationRequest.dosageInstruction or MedicationStatement.dosage."""
    lines = as_items(resource.get("dosageInstruction")) or as_items(resource.get("dosage"))
    return [as_dict(line) for line in lines]


def read_route(lines: list[JSON], kb: Knowledge) -> Route:
    """Return the first recognised route: coded, then route words, then the dosage text.

    Why the free dosage text counts: "1 mg IM every 3 months" is how many EHRs send a
    hydroxocobalamin injection, and route decides whether B12 therapy counts (B12-RULES.md §3).
    """
    routes = kb.dosing.routes
    for line in lines:
        route = as_dict(line.get("route"))
        coded = codings(route)
        for system, code, _ in coded:
            found = _coded_route(kb, system, code)
            if found is not None:
                return found
        texts = [as_str(route.get("text")), *(display for _, _, display in coded)]
        for text in [*texts, as_str(line.get("text"))]:
            found = _route_word(text or "", routes.text)
            if found:
                return Route(found)
    return Route.UNKNOWN


@functools.lru_cache(maxsize=1024)  # per coding of a route: a few come back on every call; bounded
def _coded_route(kb: Knowledge, system: str, code: str) -> Route | None:
    """The route of the first listed route code (knowledge ``dosing.routes.codes``) that is this coding."""
    for entry in kb.dosing.routes.codes:
        if entry.code == code and kb.canonical_system(entry.system) == kb.canonical_system(system):
            return Route(entry.route)
    return None


def _route_word(text: str, words: dict[str, str]) -> str | None:
    """Return the route group of the first whole route word in ``text`` ("IM" -> intramuscular)."""
    if not text:
        return None
    text = normalise_text(text)
    for pattern, group in _route_patterns(words):
        if pattern.search(text):
            return group
    return None


def _route_patterns(words: dict[str, str]) -> list[tuple[re.Pattern[str], str]]:
    """The route words' patterns, longest word first, compiled once per knowledge (not per dosage line)."""
    kept = _ROUTE_PATTERNS.get(id(words))
    if kept is None or kept[0] is not words:  # the dict itself is kept, so its id is never reused meanwhile
        if len(_ROUTE_PATTERNS) >= 16:
            _ROUTE_PATTERNS.clear()
        kept = words, [(re.compile(rf"(?<!\w){re.escape(word)}(?!\w)"), words[word])
                       for word in sorted(words, key=len, reverse=True)]
        _ROUTE_PATTERNS[id(words)] = kept
    return kept[1]


_ROUTE_PATTERNS: dict[int, tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]] = {}


def schedule_bound(lines: list[JSON], key: str) -> date | None:
    """Return the first Dosage.timing.repeat.boundsPeriod ``key`` ("start" / "end")."""
    for line in lines:
        bounds = as_dict(as_dict(as_dict(line.get("timing")).get("repeat")).get("boundsPeriod"))
        found = period_date(bounds, key)
        if found:
            return found
    return None


def daily_dose_mg(lines: list[JSON], kb: Knowledge, strength: Strength | None) -> float | None:
    """Return the daily dose in mg, or None when any dosage line cannot be computed.

    Lines sharing a ``sequence`` run concurrently and add up; different sequences are phases
    (loading, then maintenance), and the largest phase is returned: the folic-acid trigger
    asks whether the dose may exceed a limit (B12-RULES.md §5).
    """
    phases: dict[object, float] = {}
    for line in lines:
        dose = _line_dose_mg(line, kb, strength)
        if dose is None:
            return None
        sequence = line.get("sequence")
        phases[sequence] = phases.get(sequence, 0.0) + dose
    return max(phases.values()) if phases else None


def _line_dose_mg(line: JSON, kb: Knowledge, strength: Strength | None) -> float | None:
    """Return one dosage line's mg per day: dose in mg times administrations per day."""
    per_day = _per_day(as_dict(line.get("timing")), kb)
    for dose_and_rate in map(as_dict, as_items(line.get("doseAndRate"))):
        quantity = as_dict(dose_and_rate.get("doseQuantity"))
        amount, units = as_number(quantity.get("value")), quantity_units(quantity)
        if amount is None or per_day is None:
            return None
        multiplier = unit_multiplier(units, kb.dose_units) or _strength_mg(units, strength)
        return amount * multiplier * per_day if multiplier is not None else None
    return None


def _strength_mg(units: list[Unit], strength: Strength | None) -> float | None:
    """Return mg per dose unit from the product's strength ("1 tablet" of "5 mg / 1 tablet")."""
    if strength is None:
        return None
    mg_per_unit, denominator_units = strength
    # Why: a bare count ("value": 1 with no unit) means one unit of the product.
    given = {normalise_text(u.text) for u in units} or {"1"}
    return mg_per_unit if given & {normalise_text(u.text) for u in denominator_units} else None


def _per_day(timing: JSON, kb: Knowledge) -> float | None:
    """Return administrations per day from Timing.repeat, or from a timing code such as BID."""
    repeat = as_dict(timing.get("repeat"))
    period, unit = as_number(repeat.get("period")), as_str(repeat.get("periodUnit"))
    frequency = as_number(repeat.get("frequency")) if "frequency" in repeat else 1.0
    if period is None or unit is None:
        code = next((c for _, c, _ in codings(timing.get("code"))), None)
        spec = kb.dosing.timingCodes.codes.get(code or "")
        if spec is None:
            return None
        frequency, period, unit = spec.frequency, spec.period, spec.periodUnit
    days = kb.period_units.multiplier(unit, ucum=True)
    if frequency is None or days is None or period <= 0:
        return None
    return frequency / (period * days)


def strength_mg(kb: Knowledge, product: Product, value_set: str) -> Strength | None:
    """Return (mg per denominator unit, denominator units) of the one ingredient in ``value_set``.

    ``Medication.ingredient.strength`` first; else, for a single-ingredient (or uncoded) product,
    the one strength stated in its name or code display (``named_strength``).
    """
    matching = [i for i in product.ingredients if value_set in match_concept(kb, i.concept, value_set)]
    stated = _ingredient_strength(kb, matching[0].strength) if len(matching) == 1 else None
    if stated is None and len(product.ingredients) <= 1:
        return named_strength(kb, product)
    return stated


def _ingredient_strength(kb: Knowledge, ratio: JSON) -> Strength | None:
    """Return a Medication.ingredient.strength Ratio as (mg per denominator unit, its units)."""
    numerator, denominator = as_dict(ratio.get("numerator")), as_dict(ratio.get("denominator"))
    amount = as_number(numerator.get("value"))
    per = as_number(denominator.get("value")) if "value" in denominator else 1.0
    multiplier = unit_multiplier(quantity_units(numerator), kb.dose_units)
    if amount is None or per is None or per <= 0 or multiplier is None:
        return None
    return amount * multiplier / per, quantity_units(denominator)
