"""The request body's nesting check (a scan of the raw text) agrees with the nesting of the parsed value."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.protocol.request import _depth_exceeds

#: Strings full of what could fool a scan of the raw text: brackets, quotes, backslashes.
TRICKY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\ aé\u2028\x00'), max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=40,
)


def nesting(value) -> int:
    """Reference: the depth of containers in a decoded JSON value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.integers(min_value=0, max_value=8), st.booleans())
def test_the_scan_finds_the_same_depth_as_the_parsed_value(value, limit, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8")
    assert _depth_exceeds(raw, limit) == (nesting(value) > limit)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_bodies_in_the_other_json_encodings_are_scanned_too(encoding):
    value = {"a": [{"b": ["[[[", {"c": "\\\"]]"}]}]}
    raw = json.dumps(value, ensure_ascii=False).encode(encoding)
    assert json.loads(raw) == value
    assert (_depth_exceeds(raw, 4), _depth_exceeds(raw, 5)) == (True, False)


def test_a_text_body_is_scanned_like_its_utf8_bytes():
    assert _depth_exceeds('{"a": [[["]]]]]"]]]}', 3) is True
    assert _depth_exceeds('{"a": [[["]]]]]"]]]}', 4) is False
