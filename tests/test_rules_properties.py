"""Property: a lower total B12, all else equal, never gives a milder status."""

from __future__ import annotations

from builders.facts import active, b12, chart, egfr, mma, problem
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.chart.facts import ProblemCategory
from cds_service.rules import b12_status
from cds_service.rules.b12_status import SEVERITY

values = st.floats(min_value=20, max_value=2000, allow_nan=False)
others = st.fixed_dictionaries(
    {
        "mma": st.none() | st.floats(min_value=0.05, max_value=3, allow_nan=False),
        "active": st.none() | st.floats(min_value=5, max_value=200, allow_nan=False),
        "egfr": st.none() | st.floats(min_value=5, max_value=120, allow_nan=False),
        "ckd": st.booleans(),
        "comparator": st.sampled_from(["=", "<", ">", "<=", ">="]),
    }
)


def _status(total: float, o: dict):
    labs = [b12(total, comparator=o["comparator"])]
    labs += [mma(o["mma"])] if o["mma"] is not None else []
    labs += [active(o["active"])] if o["active"] is not None else []
    labs += [egfr(o["egfr"])] if o["egfr"] is not None else []
    problems = [problem(ProblemCategory.CKD_STAGE_4_5)] if o["ckd"] else []
    return b12_status(chart(labs=labs, problems=problems)).code


@settings(max_examples=400, deadline=None)
@given(values, values, others)
def test_lower_total_b12_never_gives_a_milder_status(a, b, o):
    low, high = sorted((a, b))
    assert SEVERITY[_status(low, o)] >= SEVERITY[_status(high, o)]


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=15, max_value=1500, allow_nan=False),
       st.floats(min_value=15, max_value=1500, allow_nan=False), others)
def test_lower_molar_b12_never_gives_a_milder_status(a, b, o):
    from builders.facts import b12_pmol

    low, high = sorted((a, b))

    def code(pmol):
        labs = [b12_pmol(pmol)] + ([mma(o["mma"])] if o["mma"] is not None else [])
        return b12_status(chart(labs=labs)).code

    assert SEVERITY[code(low)] >= SEVERITY[code(high)]
