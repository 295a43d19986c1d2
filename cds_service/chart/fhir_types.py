"""Small, total helpers over raw FHIR JSON: they never raise on malformed input."""

from __future__ import annotations

import calendar
import functools
import math
import re
from datetime import date
from decimal import Decimal
from typing import Any

JSON = dict[str, Any]

# FHIR date / dateTime: year, optional month, optional day, optional time and zone.
_FHIR_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T[0-9:.+\-Z]*)?)?)?$")


def as_dict(value: object) -> JSON:
    """Return ``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """Return ``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_items(value: object) -> list[Any]:
    """Return the items of a FHIR array; a lone object where an array belongs is read as one item.

    Why: real EHRs send ``"coding": {...}`` or ``"category": {...}`` (B12-RULES.md §7, tolerant
    reading); reading the object is the cautious choice, and ``elements.py`` names the defect.
    """
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def as_str(value: object) -> str | None:
    """Return ``value`` stripped if it is a non-empty string, else None."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


_NUMBERS = (int, float, Decimal)  # a tuple, made once: ``int | float | Decimal`` built a union on every call


def as_number(value: object) -> float | None:
    """Return a finite float for a JSON number (or Decimal), else None; booleans are not numbers."""
    if type(value) is float:  # the usual case, answered at once (float(value) is value)
        return value if math.isfinite(value) else None
    if type(value) is int:  # the next usual case (JSON "148"), as below: a float(int) is finite or raises
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def parse_fhir_date(value: object, *, end_of_period: bool = False) -> date | None:
    """Return the calendar date of a FHIR date/dateTime, or None when absent or malformed.

    Partial dates ("1950", "1950-03") resolve to the first day of the period, or the last
    with ``end_of_period`` (an end date "2024-03" runs to the end of March). A time zone is
    not converted: the date is the one written, which is the date the clinician sees in the EHR.
    """
    return _parse_date(value, end_of_period) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_date(text: str, end_of_period: bool) -> date | None:
    """:func:`parse_fhir_date` of a string, remembered: each date is read twice (its shape is checked
    first), and a chart repeats dates. Bounded: requests bring arbitrary strings."""
    match = _FHIR_DATE.match(text.strip())
    if match is None:
        return None
    year, month, day = match.groups()
    try:
        if month is None:
            return date(int(year), 12, 31) if end_of_period else date(int(year), 1, 1)
        if day is None:
            last = calendar.monthrange(int(year), int(month))[1]
            return date(int(year), int(month), last if end_of_period else 1)
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def codings(concept: object) -> list[tuple[str, str, str]]:
    """Return (system, code, display) for each coding of a CodeableConcept that has a code (all stripped;
    "" for a missing system or display).

    Why spelled out with the checks in line (``as_dict``, ``as_items``, ``as_str``) and a list, not a generator: the
    concept helpers run several times for every resource read (``tests/test_chart_fast_paths.py`` compares
    them with their earlier forms).
    """
    if not isinstance(concept, dict):
        return []
    found = []
    items = concept.get("coding")  # as_items, in line
    for coding in items if isinstance(items, list) else (items,) if isinstance(items, dict) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and (code := code.strip()):
            system, display = coding.get("system"), coding.get("display")
            found.append((system.strip() if isinstance(system, str) else "", code,
                          display.strip() if isinstance(display, str) else ""))
    return found


def concept_texts(concept: object) -> list[str]:
    """Return the human words of a CodeableConcept: its text, then each coding's display (stripped, non-empty)."""
    if not isinstance(concept, dict):
        return []
    texts = []
    text = concept.get("text")
    if isinstance(text, str) and (text := text.strip()):
        texts.append(text)
    items = concept.get("coding")  # as_items, in line
    for coding in items if isinstance(items, list) else (items,) if isinstance(items, dict) else ():
        display = coding.get("display") if isinstance(coding, dict) else None
        if isinstance(display, str) and (display := display.strip()):
            texts.append(display)
    return texts


def concept_label(concept: object) -> str:
    """Return the best human label of a CodeableConcept (text, display, else code)."""
    texts = concept_texts(concept)
    if texts:
        return texts[0]
    return first_code(concept) or ""


def first_code(concept: object, system_suffix: str = "") -> str | None:
    """Return the first code of a CodeableConcept whose system ends with ``system_suffix``."""
    if not isinstance(concept, dict):
        return None
    items = concept.get("coding")  # as_items, in line
    for coding in items if isinstance(items, list) else (items,) if isinstance(items, dict) else ():
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and (code := code.strip()):
            if not system_suffix:  # every system ends with ""
                return code
            system = coding.get("system")
            if (system.strip() if isinstance(system, str) else "").endswith(system_suffix):
                return code
    return None


def resource_ref(resource: JSON) -> str:
    """Return "Type/id" for a resource (id "?" when it has none)."""
    kind = as_str(resource.get("resourceType")) or "Resource"
    return f"{kind}/{as_str(resource.get('id')) or '?'}"


def period_date(period: object, key: str) -> date | None:
    """Return ``period[key]`` ("start" or "end") as a date; an end is read to its period's end."""
    return parse_fhir_date(as_dict(period).get(key), end_of_period=key == "end")
