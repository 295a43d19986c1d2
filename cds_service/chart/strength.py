"""The strength a product's name states ("folic acid 0.4 MG Oral Tablet"), when it states exactly one."""

from __future__ import annotations

import functools
import re

from cds_service.knowledge import Knowledge, normalise_text

from .med_concepts import Product
from .quantities import Unit, unit_multiplier

Strength = tuple[float, list[Unit]]  # mg per unit of product, and the spellings of that unit
_NUMBER = r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"


@functools.lru_cache(maxsize=4)
def _pattern(mass_units: tuple[str, ...]) -> re.Pattern[str]:
    units = "|".join(re.escape(u.lower()) for u in sorted(mass_units, key=len, reverse=True))
    # A "/" after the unit ("2.5 mg/5 mL") is a concentration, not a per-tablet strength.
    return re.compile(rf"{_NUMBER}\s*({units})(?![\w])(\s*/)?")


def named_strength(kb: Knowledge, product: Product) -> Strength | None:
    """Return (mg per tablet/capsule/count, count units) from the product's words, or None.

    Why: RxNorm clinical drugs ("vitamin B12 1 MG Oral Tablet") and EHR free text ("Folic acid
    5 mg tablet") carry the strength only in their name; with a dose of "1 tablet" that is the
    only way to know the daily dose (B12-RULES.md §3.1 oral >= 1 mg/day, §5 folic acid > 0.1
    mg/day). Never guessed: several different strengths (combination products, "5 mg (0.4 mg)"),
    a concentration ("mg/mL") or no strength at all give None, and the dose stays unknown.

    >>> from cds_service.knowledge import load_knowledge
    >>> named_strength(load_knowledge(), Product({}, ("cyanocobalamin 1000 MCG oral tablet",)))[0]
    1.0
    >>> named_strength(load_knowledge(), Product({}, ("folic acid 0.4 mg / iron 200 mg",))) is None
    True
    """
    found = _named_strength(kb, product.texts)
    return (found[0], list(found[1])) if found else None


@functools.lru_cache(maxsize=1024)  # per product name: the same few drugs come back on every call; bounded
def _named_strength(kb: Knowledge, texts: tuple[str, ...]) -> tuple[float, tuple[Unit, ...]] | None:
    """:func:`named_strength` of a product's words (all that it reads), remembered."""
    pattern = _pattern(tuple(kb.dosing.doseMassToMg))
    found: set[float] = set()
    for text in texts:
        for match in pattern.finditer(normalise_text(text)):
            multiplier = unit_multiplier([Unit(match.group(2), False)], kb.dose_units)
            if match.group(3) or multiplier is None:
                return None
            found.add(round(float(match.group(1).replace(",", "")) * multiplier, 9))
    if len(found) != 1:
        return None
    return found.pop(), tuple(Unit(u, False) for u in kb.dosing.countUnits.units)
