"""The cards' faster ways give the answers of the plain ones they replaced (docs/performance.md, fifth round).

The plain versions are spelled out here as they stood before, and compared over varied and malformed input.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cards.detail import escape_markdown, tidy

# --- markdown text: escaping and blank lines ---------------------------------------------------------------

_PIECES = ["\n", "\n\n", "\n\n\n", "\n\n\n\n\n", " ", "\t", "\r\n", "**Values used**", "- a line", "x" * 90,
           "\\", "`", "*", "_", "[", "]", "(", ")", "#", "<", ">", "|", "~", "µmol/L", "–", "é", "\u2028", "{x}"]
_texts = st.lists(st.sampled_from(_PIECES) | st.text(max_size=12), max_size=40).map("".join)


def _escape_markdown_as_before(text: str) -> str:
    return re.sub(r"([\\`*_\[\]()#<>|~])", r"\\\1", " ".join(text.split()))


def _tidy_as_before(markdown: str) -> str:
    from cds_service.cards.detail import fit
    return fit(re.sub(r"\n{3,}", "\n\n", markdown).strip())


@settings(max_examples=500, deadline=None)
@given(_texts)
def test_escape_markdown_as_before(text: str) -> None:
    assert escape_markdown(text) == _escape_markdown_as_before(text)


@settings(max_examples=500, deadline=None)
@given(_texts)
def test_tidy_as_before(text: str) -> None:
    assert tidy(text) == _tidy_as_before(text)


def test_tidy_long_detail_as_before() -> None:
    text = "**Treat.**\n\n\n\n**Values used**\n" + "\n".join(f"- value {i:03}" for i in range(120)) + "\n\n\n"
    assert tidy(text) == _tidy_as_before(text)
