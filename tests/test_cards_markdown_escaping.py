"""Text from the EHR (problem, medication and order displays, reported values) is escaped as markdown in cards."""

from __future__ import annotations

from dataclasses import replace

from builders.cards import checked_cards as cards_for
from builders.facts import b12, chart, folic_acid_draft, med, problem

from cds_service.cards.detail import escape_markdown
from cds_service.chart.facts import MedicationClass, ProblemCategory

P = ProblemCategory
SIGN = "folic-acid-safety-sign"


# --- EHR text in markdown is escaped -------------------------------------------------------------


def test_escape_markdown_neutralises_links_emphasis_and_html():
    assert escape_markdown("[click](http://x) *a* _b_ #c <d> `e` \\") == (
        "\\[click\\]\\(http://x\\) \\*a\\* \\_b\\_ \\#c \\<d\\> \\`e\\` \\\\")
    assert escape_markdown("line one\nline two") == "line one line two"


def test_condition_display_with_a_link_cannot_inject_markdown_into_the_card():
    hostile = replace(problem(P.NEUROPATHY), display="Neuropathy [see here](https://evil.example) **now**")
    (card,) = cards_for("b12-status", chart(labs=[b12(150)], problems=[hostile]))
    assert "[see here](https://evil.example)" not in card.detail
    assert "Neuropathy \\[see here\\]\\(https://evil.example\\) \\*\\*now\\*\\*" in card.detail


def test_medication_display_and_reported_value_are_escaped_in_the_card():
    metformin = replace(med(MedicationClass.METFORMIN, ingredient="metformin", start=None),
                        display="Metformin <script>_x_</script>")
    low = replace(b12(150), reported="150 pg/mL [lab](javascript:alert)")
    (card,) = cards_for("b12-status", chart(labs=[low], meds=[metformin]))
    assert "<script>" not in card.detail and "[lab](javascript" not in card.detail
    assert "Metformin \\<script\\>\\_x\\_\\</script\\>" in card.detail


def test_folic_acid_order_display_is_escaped_in_the_card():
    draft = replace(folic_acid_draft(5), display="Folic acid 5 mg `tab` #1")
    (card,) = cards_for(SIGN, chart(labs=[b12(150)], drafts=[draft]))
    assert "Folic acid 5 mg \\`tab\\` \\#1" in card.detail
