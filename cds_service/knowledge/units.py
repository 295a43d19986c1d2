"""Unit spellings: normalise once, then look up exactly (UCUM) or case-insensitively (human)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..memo import BoundedMemo
from .models import Conversion

_WHITESPACE = re.compile(r"\s+")
# Both micro signs EHRs send (U+00B5 MICRO SIGN, U+03BC GREEK SMALL LETTER MU) become
# UCUM's ASCII "u"; NFKC is deliberately not used because it flattens superscripts
# ("10⁹/L" would become "109/L").
_MICRO = str.maketrans({"\u00b5": "u", "\u03bc": "u"})


@functools.lru_cache(maxsize=1024)  # once per lab value read; requests bring arbitrary spellings
def normalise_unit(unit: str) -> str:
    """Return ``unit`` without whitespace and with the micro sign spelled ``u``."""
    return _WHITESPACE.sub("", unit).translate(_MICRO)


@dataclass(frozen=True)
class UnitTable:
    """Accepted spellings of one quantity, each with its multiplier to the target unit."""

    exact: Mapping[str, float]
    folded: Mapping[str, float]  # case-folded spellings whose listed variants all agree
    #: answers a reader derived from this table alone, by what it read (chart/quantities.py: unit spellings)
    answers: BoundedMemo[Any] = field(default_factory=lambda: BoundedMemo(1024), compare=False, repr=False)

    @classmethod
    def build(cls, conversions: Mapping[str, Conversion]) -> UnitTable:
        """Index ``conversions``; raise ValueError when two spellings collide with different factors."""
        exact: dict[str, float] = {}
        for spelling, conversion in conversions.items():
            key = normalise_unit(spelling)
            if key in exact and exact[key] != conversion.multiplier:
                raise ValueError(f"unit spellings collide after normalisation: {spelling!r}")
            exact[key] = conversion.multiplier
        by_fold: dict[str, set[float]] = {}
        for key, multiplier in exact.items():
            by_fold.setdefault(key.casefold(), set()).add(multiplier)
        folded = {k: next(iter(v)) for k, v in by_fold.items() if len(v) == 1}
        return cls(exact=exact, folded=folded)

    def multiplier(self, unit: str, *, ucum: bool) -> float | None:
        """Return the multiplier for ``unit``, or None when it is not an accepted spelling.

        UCUM codes are case-sensitive ("mL" is not "ML"); human spellings may differ in case
        only where no accepted spelling of a different size shares the case-folded form.
        """
        key = normalise_unit(unit)
        if key in self.exact:
            return self.exact[key]
        return None if ucum else self.folded.get(key.casefold())
