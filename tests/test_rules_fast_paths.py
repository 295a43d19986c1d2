"""The rules' faster ways give the answers of the plain ones they replaced (docs/performance.md, fifth round).

As in ``test_chart_fast_paths.py``: the plain versions are spelled out here as they stood before, and
compared over varied and odd input (missing dates, future-dated results, unusable results, same-day ties).
"""

from __future__ import annotations

import calendar
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.rules.dates import add_months

# --- add_months, remembered -----------------------------------------------------------------------------------


def _add_months_as_before(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@settings(max_examples=500, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.integers(-1200, 1200))
def test_add_months_answers_as_before(day: date, months: int) -> None:
    assert add_months(day, months) == _add_months_as_before(day, months)
    assert add_months(day, months) == _add_months_as_before(day, months)  # the remembered answer too


def test_add_months_clamps_to_the_months_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2024, 2, 29), -12) == date(2023, 2, 28)
