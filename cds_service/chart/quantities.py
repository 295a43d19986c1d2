"""Lab values: a Quantity or a value string, converted once to the analyte's canonical unit.

A unit that is not listed for the analyte in knowledge/analytes.json is reported
(DataIssue.UNKNOWN_UNIT), never guessed. A value without any unit borrows the unit of the
lab's own referenceRange, else the unit its LOINC code implies where that is unambiguous
(analytes.json ``impliedUnits``: 2132-9 is pg/mL = ng/L), and is otherwise UNKNOWN_UNIT too.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import NamedTuple

from cds_service.knowledge import UnitTable

from .facts import Comparator, DataIssue
from .fhir_types import JSON, as_dict, as_items, as_number, as_str

UCUM = "http://unitsofmeasure.org"
COMPARATORS = {c.value: c for c in Comparator}  # FHIR QuantityComparator codes, plus "="
# "<100", "150 pg/mL", ">= 2000 ng/L". Commas are refused: "1,500" is a thousands
# separator in one country and a decimal comma in another, and a value is never guessed.
_VALUE_STRING = re.compile(r"^(<=|>=|<|>|=)?\s*(\d+(?:\.\d+)?|\.\d+)\s*([^\d\s,][^,]*)?$")


class Unit(NamedTuple):
    """One spelling of a unit as sent; ``ucum`` when it is a code in the UCUM system.

    A named tuple, not a dataclass: two are made for every lab value read.
    """

    text: str
    ucum: bool


class Measured(NamedTuple):
    """A lab value read from an Observation, in the canonical unit when it could be converted.

    A named tuple, not a dataclass: one is made for every lab value read.
    """

    value: float | None
    comparator: Comparator
    unit: str  # canonical unit, or the raw unit when it could not be converted
    reported: str  # as sent, e.g. "<100 pmol/L"
    issues: tuple[DataIssue, ...] = ()
    unit_note: str = ""  # set when a unitless value was read in a borrowed unit


def quantity_units(quantity: object) -> list[Unit]:
    """Return the unit spellings of a Quantity, the UCUM code first (it is machine-readable)."""
    if not isinstance(quantity, dict):
        return []
    code, text, system = quantity.get("code"), quantity.get("unit"), quantity.get("system")
    # Only strings are read (anything else is no unit): keyed on them, the answer is the same.
    return list(_units(code if isinstance(code, str) else None, text if isinstance(text, str) else None,
                       system if isinstance(system, str) else None))


@functools.lru_cache(maxsize=4096)  # once per lab value read; requests bring arbitrary spellings: bounded
def _units(code: str | None, text: str | None, system: str | None) -> tuple[Unit, ...]:
    """:func:`quantity_units` of a Quantity's ``code``, ``unit`` and ``system`` strings, remembered."""
    code, text = as_str(code), as_str(text)
    units = []
    if code:
        units.append(Unit(code, system is not None and system.strip().rstrip("/") == UCUM))
    if text:
        units.append(Unit(text, False))
    return tuple(units)


def unit_multiplier(units: Sequence[Unit], table: UnitTable) -> float | None:
    """Return the multiplier of the first accepted spelling in ``units``, or None."""
    for unit in units:
        multiplier = table.multiplier(unit.text, ucum=unit.ucum)
        if multiplier is not None:
            return multiplier
    return None


def _table_multiplier(table: UnitTable, units: tuple[Unit, ...]) -> float | None:
    """:func:`unit_multiplier`, remembered per table and unit spellings (``UnitTable.answers``, bounded).

    Why: three Quantities are converted for every lab value read (the value and its reference range), each
    a loop, a keyword call per spelling and a normalised lookup; a chart repeats a few spellings. Remembered,
    one lookup: read_reference_range of the B12 Observation of deficient_with_neuropathy 21.1k -> 12.0k
    instructions, measure 19.7k -> 14.2k (callgrind).
    """
    return table.answers.get(units, lambda: unit_multiplier(units, table))


def format_number(number: object) -> str:
    """Return a number as a lab would print it: 150, not 150.0; 24.87, not 24.873612839.

    Why (B12-RULES.md §9): values are shown rounded as a lab prints them. Generated records
    (Synthea) send many decimals; four significant digits (whole numbers kept whole) say what
    the lab measured. The value used for decisions is never rounded.

    >>> [format_number(n) for n in (150.0, 24.873612839, 143.2847193, 0.6814, 1234.56, "7")]
    ['150', '24.87', '143.3', '0.6814', '1235', '7']
    """
    if not isinstance(number, float) or not math.isfinite(number):
        return str(number)
    magnitude = abs(number)
    if magnitude >= 1e15:
        return str(number)
    if number.is_integer():
        return str(int(number))
    if magnitude < 1:
        text = format(number, ".4g")
        return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text
    if magnitude >= 1000:  # four whole digits or more: whole numbers
        return format(number, ".0f")
    # 1-3 whole digits: 3, 2 or 1 decimals (four digits in all), trailing zeros dropped
    return format(number, ".3f" if magnitude < 10 else ".2f" if magnitude < 100 else ".1f").rstrip("0").rstrip(".")


def reference_units(resource: JSON) -> list[Unit]:
    """Return the unit spellings of the first referenceRange bound that has a unit."""
    for reference_range in as_items(resource.get("referenceRange")):
        for bound in ("low", "high"):
            units = quantity_units(as_dict(reference_range).get(bound))
            if units:
                return units
    return []


#: A number as the lab sent it, before any conversion: (number, comparator, unit spellings, as reported).
#: A plain tuple (a named one cost a third of a microsecond, once per lab value read).
_Sent = tuple[object, object, list[Unit], str]


def read_measured(
    resource: JSON, table: UnitTable, canonical_unit: str, implied: tuple[str, str] | None = None
) -> Measured:
    """Read Observation.value[x] and convert it to ``canonical_unit`` through ``table``.

    ``implied`` is (LOINC code, unit) from knowledge/analytes.json ``impliedUnits``: the unit
    of a value sent without one, used after the lab's own referenceRange unit.
    """
    return measure(resource, table, canonical_unit, implied)[0]


def measure(
    resource: JSON, table: UnitTable, canonical_unit: str, implied: tuple[str, str] | None = None
) -> tuple[Measured, tuple[Unit, ...]]:
    """:func:`read_measured`, and the unit spellings of ``valueQuantity`` as sent (a reference range
    bound without a unit of its own is in these; read once, they are returned rather than read again)."""
    if "valueQuantity" in resource:
        return _measure_quantity(resource, resource["valueQuantity"], table, canonical_unit, implied)
    sent = _sent(resource)
    if isinstance(sent, Measured):  # no number
        return sent, ()
    number, comparator, units, reported = sent
    borrowed, origin = ((), "") if units else _borrowed_units(resource, implied)
    value, known, unit, issues = _convert(number, comparator, units or borrowed, table, canonical_unit)
    note = f"no unit sent; read in {borrowed[0].text}, {origin}" if borrowed and value is not None else ""
    return Measured(value, known, unit, reported, issues, note), ()


def _measure_quantity(resource: JSON, quantity: object, table: UnitTable, canonical_unit: str,
                      implied: tuple[str, str] | None) -> tuple[Measured, tuple[Unit, ...]]:
    """:func:`measure` of a ``valueQuantity``: each of its elements read once, its unit strings looked up once.

    Why: nearly every lab value comes this way, once per Observation read (5,000 in a long chart). Read
    through ``_sent``, ``quantity_units`` and ``_convert`` it was three calls, a list and a tuple of the
    same spellings and two remembered lookups (the spellings, then their multiplier); here the spellings
    and their multiplier are one lookup (:func:`_units_in`). The same answers as before, in the same cases
    (``tests/test_chart_fast_paths.py`` compares the two).
    """
    if not isinstance(quantity, dict):
        quantity = _NONE
    number, comparator = quantity.get("value"), quantity.get("comparator")
    units, multiplier = _units_in(table, quantity)
    sign = comparator if isinstance(comparator, str) and comparator != "=" else ""
    shown_unit = units[0].text if units else ""
    reported = f"{sign}{format_number(number)} {shown_unit}".strip()
    if units:
        value, known, unit, issues = _convert_with(number, comparator, shown_unit, multiplier, canonical_unit)
        return Measured(value, known, unit, reported, issues), units
    borrowed, origin = _borrowed_units(resource, implied)
    value, known, unit, issues = _convert(number, comparator, borrowed, table, canonical_unit)
    note = f"no unit sent; read in {borrowed[0].text}, {origin}" if borrowed and value is not None else ""
    return Measured(value, known, unit, reported, issues, note), units


def _units_in(table: UnitTable, quantity: JSON) -> tuple[tuple[Unit, ...], float | None]:
    """Return a Quantity's unit spellings (:func:`quantity_units`) and their multiplier in ``table`` (None when
    there are none or none is accepted), remembered per table and unit strings (``UnitTable.answers``).

    Why one lookup keyed on the strings as sent: the spellings and the multiplier depend on them alone, and
    a chart repeats a few. The key starts with "quantity" so it never equals one of ``_table_multiplier``'s
    (a tuple of Units) in the same memo.
    """
    code, text, system = quantity.get("code"), quantity.get("unit"), quantity.get("system")
    key = ("quantity", code if isinstance(code, str) else None, text if isinstance(text, str) else None,
           system if isinstance(system, str) else None)
    return table.answers.get(key, lambda: _reading_of(table, key))  # type: ignore[no-any-return]


def _reading_of(table: UnitTable, key: tuple[str, str | None, str | None, str | None],
                ) -> tuple[tuple[Unit, ...], float | None]:
    """:func:`_units_in` computed: the spellings, and their multiplier when there are any."""
    units = _units(key[1], key[2], key[3])
    return units, unit_multiplier(units, table) if units else None


def _sent(resource: JSON) -> _Sent | Measured:
    """Return a value other than a ``valueQuantity`` as sent (:func:`_measure_quantity` reads that), or the
    unusable Measured when there is no number to read."""
    if "valueString" in resource:
        text = as_str(resource.get("valueString")) or ""
        match = _VALUE_STRING.match(text)
        if match is None:
            return Measured(None, Comparator.EQ, "", text, (DataIssue.NON_NUMERIC,))
        comparator, number, unit = match.groups()
        return float(number), comparator, [Unit(unit.strip(), False)] if unit else [], text
    if "valueInteger" in resource:
        return resource["valueInteger"], None, [], format_number(resource["valueInteger"])
    if any(key.startswith("value") for key in resource):
        return Measured(None, Comparator.EQ, "", _describe(resource), (DataIssue.NON_NUMERIC,))
    return Measured(None, Comparator.EQ, "", "no value", (DataIssue.NO_VALUE,))


def _borrowed_units(resource: JSON, implied: tuple[str, str] | None) -> tuple[list[Unit], str]:
    """Return the units a unitless value is read in, and where they come from."""
    from_range = reference_units(resource)
    if from_range:
        return from_range, "the unit of the lab's reference range"
    if implied:
        code, unit = implied
        return [Unit(unit, True)], f"the unit LOINC {code} implies"
    return [], ""


def _convert(
    number: object,
    comparator: object,
    units: Sequence[Unit],
    table: UnitTable,
    canonical_unit: str,
) -> tuple[float | None, Comparator, str, tuple[DataIssue, ...]]:
    """Convert one number with its comparator and unit spellings to the canonical unit.

    Return (value, comparator, unit, issues): the value in ``canonical_unit``, or None with the unit
    as sent and the issue that stopped it.
    """
    multiplier = _table_multiplier(table, tuple(units)) if units else None
    return _convert_with(number, comparator, units[0].text if units else "", multiplier, canonical_unit)


def _convert_with(
    number: object, comparator: object, shown_unit: str, multiplier: float | None, canonical_unit: str
) -> tuple[float | None, Comparator, str, tuple[DataIssue, ...]]:
    """:func:`_convert` with the multiplier of the unit spellings already looked up (None: no accepted one)."""
    value = as_number(number)
    known = COMPARATORS.get(comparator if isinstance(comparator, str) and comparator else "=")
    if value is None or known is None:
        return None, known or Comparator.EQ, shown_unit, (DataIssue.NON_NUMERIC,)
    if multiplier is None:
        return None, known, shown_unit, (DataIssue.UNKNOWN_UNIT,)
    converted = value * multiplier
    if not math.isfinite(converted):
        return None, known, shown_unit, (DataIssue.NON_NUMERIC,)
    return converted, known, canonical_unit, ()


def read_reference_range(
    resource: JSON, table: UnitTable, value_units: Sequence[Unit]
) -> tuple[float | None, float | None]:
    """Return the first referenceRange's (low, high) in the canonical unit, None where unknown.

    A bound without its own unit is in the value's unit (FHIR: "the same units as the value").
    """
    for reference_range in as_items(resource.get("referenceRange")):
        # Why spelled out (no comprehensions): once per lab value read, and each made a frame
        low = reference_range.get("low") if isinstance(reference_range, dict) else None
        high = reference_range.get("high") if isinstance(reference_range, dict) else None
        low, high = low if isinstance(low, dict) else _NONE, high if isinstance(high, dict) else _NONE
        if "value" not in low and "value" not in high:
            continue
        return _bound(low, table, value_units), _bound(high, table, value_units)
    return None, None


_NONE: JSON = {}  # an absent bound, read as an empty Quantity (never written to)


def _bound(quantity: JSON, table: UnitTable, value_units: Sequence[Unit]) -> float | None:
    """Return one referenceRange bound converted to the canonical unit, or None."""
    number = as_number(quantity.get("value"))
    if number is None:  # the unit is not looked up: its answer could not change this one
        return None
    units, multiplier = _units_in(table, quantity)
    if not units:  # in the value's unit
        multiplier = _table_multiplier(table, tuple(value_units))
    if multiplier is None or not math.isfinite(number * multiplier):
        return None
    return number * multiplier


def _describe(resource: JSON) -> str:
    """Return a short description of a non-numeric value[x] for the card text."""
    concept = as_dict(resource.get("valueCodeableConcept"))
    return as_str(concept.get("text")) or "non-numeric value"
