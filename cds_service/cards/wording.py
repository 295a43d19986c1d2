"""Small helpers that make card text read as a clinician says it: durations, lab numbers, units."""

from __future__ import annotations

import re

from ..chart.facts import Analyte

_DAYS_PER_WEEK = 7
_DAYS_PER_MONTH = 30.4375  # mean calendar month (UCUM "mo")
_DAYS_PER_YEAR = 365.25  # mean calendar year (UCUM "a")

#: Decimals a laboratory report usually prints for each analyte (presentation only, not a threshold).
LAB_DECIMALS = {
    Analyte.B12_TOTAL: 0, Analyte.B12_ACTIVE: 0, Analyte.MMA: 2, Analyte.HOMOCYSTEINE: 1,
    Analyte.HAEMOGLOBIN: 1, Analyte.MCV: 0, Analyte.PLATELETS: 0, Analyte.EGFR: 0, Analyte.FOLATE: 1,
}
#: UCUM codes as a lab report prints them.
UNIT_DISPLAY = {"umol/L": "µmol/L", "mL/min/{1.73_m2}": "mL/min/1.73 m²", "10*3/uL": "×10⁹/L"}
_LONG_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d{3,})(?![\d.])")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration(days: int) -> str:
    """Say a span of days as people do: days, then weeks, months (under two years), then years.

    >>> [duration(d) for d in (1, 10, 20, 45, 60, 274, 430, 1247, 12505)]
    ['1 day', '10 days', '2 weeks', '6 weeks', '8 weeks', '9 months', '14 months', '3 years', '34 years']
    """
    if days < 2 * _DAYS_PER_WEEK:
        return _plural(days, "day")
    if days < 2 * _DAYS_PER_MONTH:
        return _plural(days // _DAYS_PER_WEEK, "week")
    if days < 2 * _DAYS_PER_YEAR:
        return _plural(int(days // _DAYS_PER_MONTH), "month")
    return _plural(int(days // _DAYS_PER_YEAR), "year")


def lab_number(value: float, analyte: Analyte) -> str:
    """Round a value as the lab prints it for this analyte.

    >>> lab_number(151.76, Analyte.B12_TOTAL), lab_number(0.5612, Analyte.MMA), lab_number(10.44, Analyte.HAEMOGLOBIN)
    ('152', '0.56', '10.4')
    """
    return f"{value:.{LAB_DECIMALS.get(analyte, 1)}f}"


def unit(code: str) -> str:
    """A UCUM unit as a report prints it.

    >>> unit("umol/L"), unit("ng/L")
    ('µmol/L', 'ng/L')
    """
    return UNIT_DISPLAY.get(code, code)


def round_numbers(text: str) -> str:
    """Round any long decimal in free text (a data-quality note) to what a lab would print.

    >>> round_numbers("eGFR 146.58935040100175 mL/min read as mL/min/1.73 m2; MMA 0.45678; B12 12.3456")
    'eGFR 147 mL/min read as mL/min/1.73 m2; MMA 0.46; B12 12.3'
    """
    def short(match: re.Match[str]) -> str:
        value = float(match.group(1))
        decimals = 0 if value >= 100 else 1 if value >= 10 else 2
        return f"{value:.{decimals}f}"
    return _LONG_NUMBER.sub(short, text)
