"""The request body's nesting check (a scan of the raw text) agrees with the nesting of the parsed value."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.errors import InvalidRequest
from cds_service.protocol import decoding
from cds_service.protocol.request import RequestLimits, _depth_exceeds, decode_json_body

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


_OTHER_BYTES = bytes(range(256)).translate(None, b'"[]{}')
_ONE_KIND = bytes.maketrans(b"[]", b"{}")


def depth_exceeds_before(raw: bytes | str, limit: int) -> bool:
    """Reference: the depth check before the guards shared one pass (main at 8598503), verbatim."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    elif json.detect_encoding(raw) not in ("utf-8", "utf-8-sig"):
        raw = raw.decode(json.detect_encoding(raw)).encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = raw.translate(_ONE_KIND, _OTHER_BYTES).replace(b'""', b"")
    brackets = b"".join(kept.split(b'"')[::2]) if b'"' in kept else kept
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"{}", b"")
    return bool(brackets)


#: Strings and numbers that put digits, their separators and escapes next to quotes and brackets.
DIGITS_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\0123456789-:.T aé'), max_size=16)
NUMERIC_VALUES = st.recursive(
    st.none() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | DIGITS_TEXT | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(DIGITS_TEXT, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(NUMERIC_VALUES, st.integers(min_value=0, max_value=8), st.booleans(), st.sampled_from(["utf-8", "utf-16"]))
def test_the_one_pass_scan_refuses_what_the_scan_before_it_refused(value, limit, ascii_only, encoding):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode(encoding)
    expected = depth_exceeds_before(raw, limit)
    assert _depth_exceeds(raw, limit) == expected
    if encoding == "utf-8":  # as decode_json_body calls it, with the pass it shares with the digit guard
        assert _depth_exceeds(raw, limit, decoding.outline(raw)) == expected


@pytest.mark.parametrize("limit", [1, 2, 3, 64])
def test_a_body_over_the_limit_is_refused_with_the_shared_pass(limit):
    deep = json.dumps({"a": "[[[[", "t": "2024-01-15T10:30:00.000+05:00", "n": [1, 2.5, -3]}).encode()
    for levels in range(limit - 1, limit + 3):
        body = b"[" * levels + deep + b"]" * levels
        with_scan = _depth_exceeds(body, limit, decoding.outline(body))
        assert with_scan == depth_exceeds_before(body, limit) == (levels + 2 > limit)
        if with_scan:
            with pytest.raises(InvalidRequest, match="nests deeper"):
                decode_json_body(body, "application/json", RequestLimits(max_depth=limit))
