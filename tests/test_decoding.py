"""A request body decodes to json.loads's value, or fails as json.loads fails, whichever decoder read it.

``protocol.decoding.loads`` lets orjson read the bodies it reads alike (docs/performance.md, fourth round):
compared here value for value (types, float signs and NaN, key order) over tricky bodies and generated ones.
"""

from __future__ import annotations

import gc
import json
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.errors import InvalidRequest
from cds_service.protocol import decoding
from cds_service.protocol.request import RequestLimits, decode_json_body

TRICKY = [
    b"1e400", b"-1e400", b"[1e309]", b"1.7976931348623159e308", b"1.7976931348623157e308", b"-0.0", b"-0", b"0",
    b"1.0", b"1E2", b"1e-400", b"4.9e-324", b"2.4703282292062328e-324", b"0.1000000000000000055511151231257827",
    b"NaN", b"Infinity", b"-Infinity", b'{"a": NaN}',
    b"999999999999999999", b"1000000000000000000", b"9223372036854775807", b"9223372036854775808",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809", b"123456789012345678901234567890",
    b'{"value": 123456789012345678901234567890.5}', b'"1234567890123456789"', b"1" * 5000,
    b'{"a": 1, "b": 2, "a": 3}', b'"\\u00e9\\u2028\\ud83d\\ude00"', b'"\\ud800"', b'"\\udc00x"', b'"\xed\xa0\x80"',
    "é€😀".encode(), b'"\xff"', b'"a\tb"', b'"a\x7fb"', b"\xef\xbb\xbf{}", b" {} ", b"\t[1]\r\n", b"[1]\x0c",
    b"{}\x00", b"", b"01", b"1.", b".5", b"[1,]", b'{"a":1,}', b"nul", b"true", b"[" * 1100 + b"]" * 1100,
    json.dumps({"a": ["é", 1]}, ensure_ascii=False).encode("utf-16"),
    json.dumps({"a": ["é", 1]}, ensure_ascii=False).encode("utf-16-le"),
    json.dumps({"a": ["é", 1]}, ensure_ascii=False).encode("utf-32"),
]


def _outcome(decode, raw: bytes):
    try:
        return "value", decode(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "error", type(exc), str(exc)


def _same(a, b) -> bool:
    """Equal, of the same types all the way down, floats to the sign (and NaN to NaN), keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def _assert_alike(raw: bytes) -> None:
    theirs = _outcome(json.loads, raw)
    # Without the shared pass, with it (decoding.outline), and with the encoding too, as decode_json_body gives them
    for ours in (_outcome(lambda r: decoding.loads(r, 64), raw),
                 _outcome(lambda r: decoding.loads(r, 64, decoding.outline(r)), raw),
                 _outcome(lambda r: decoding.loads(r, 64, decoding.outline(r), json.detect_encoding(r)), raw)):
        assert ours[0] == theirs[0], raw[:80]
        assert _same(ours[1], theirs[1]) if ours[0] == "value" else ours == theirs, raw[:80]


@pytest.mark.parametrize("raw", TRICKY, ids=lambda raw: repr(raw[:24]))
def test_a_tricky_body_decodes_as_json_decodes_it(raw: bytes) -> None:
    _assert_alike(raw)


def test_orjson_reads_the_plain_bodies_and_json_the_others() -> None:
    assert decoding._orjson_reads_alike(b'{"a": [1.5, "x", 999999999999999999]}')
    assert not decoding._orjson_reads_alike(b'{"a": 1000000000000000000}')  # a 19-digit run
    assert not decoding._orjson_reads_alike(b"\xef\xbb\xbf{}")
    assert not decoding._orjson_reads_alike('{"a": 1}'.encode("utf-16"))
    for raw in TRICKY:  # the encoding as the caller found it, or as it is found here: the same answer
        assert decoding._orjson_reads_alike(raw, None, json.detect_encoding(raw)) == decoding._orjson_reads_alike(raw)


_NUMBERS = (st.integers() | st.integers(-(10**20), 10**20) | st.floats() | st.floats(allow_infinity=False, width=32)
            | st.decimals(allow_nan=False, allow_infinity=False).map(float))
_VALUES = st.recursive(
    st.none() | st.booleans() | _NUMBERS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_VALUES, st.booleans())
def test_a_generated_body_decodes_as_json_decodes_it(value, ascii_only: bool) -> None:
    _assert_alike(json.dumps(value, ensure_ascii=ascii_only).encode())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('{}[]:,"\\ 0123456789.eE+-tfnrulsaN\t\n\x00é\ud800'), max_size=24))
def test_a_body_of_json_characters_decodes_or_fails_as_json_does(text: str) -> None:
    _assert_alike(text.encode("utf-8", "surrogatepass"))


def test_the_collector_is_left_as_it_was() -> None:
    assert gc.isenabled()
    decoding.loads(b'{"a": [1]}', 64)
    with pytest.raises(ValueError):
        decoding.loads(b"{", 64)
    assert gc.isenabled()
    gc.disable()
    try:
        decoding.loads(b'{"a": [1]}', 64)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_threads_decoding_at_once_leave_the_collector_on() -> None:
    body = b'{"entry": [' + b",".join([b'{"resource": {"id": "x", "value": [1.5, 2]}}'] * 20_000) + b"]}"
    threads = [threading.Thread(target=decoding.loads, args=(body, 64)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gc.isenabled()


def test_a_deep_body_is_refused_alike_whatever_the_depth_limit() -> None:
    deep = b"[" * 1010 + b"]" * 1010  # json refuses it (its recursion limit); orjson would read it
    for limit in (64, decoding.ORJSON_MAX_DEPTH, 5000):
        with pytest.raises(InvalidRequest, match="nests deeper"):
            decode_json_body(deep, "application/json", RequestLimits(max_depth=limit))


def test_the_errors_of_a_refused_body_are_json_s() -> None:
    with pytest.raises(InvalidRequest, match=r"not valid JSON: Expecting ',' delimiter: line 1 column 9 \(char 8\)"):
        decode_json_body(b'{"a": 1 "b": 2}', "application/json")
    with pytest.raises(InvalidRequest, match="a number is too long to read"):
        decode_json_body(b"1" * 5000, "application/json")


_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))


def orjson_reads_alike_before(raw: bytes) -> bool:
    """Reference: the digit guard before it shared a pass with the depth check (main at 8598503), verbatim."""
    return (isinstance(raw, bytes) and json.detect_encoding(raw) == "utf-8"
            and b"0" * 19 not in raw.translate(_DIGITS_ONLY))


def _assert_guard_as_before(raw: bytes) -> None:
    expected = orjson_reads_alike_before(raw)
    assert decoding._orjson_reads_alike(raw) == expected, raw[:80]
    assert decoding._orjson_reads_alike(raw, decoding.outline(raw)) == expected, raw[:80]


#: Digit runs split by what the shared pass keeps ("-", ":", ".") and by what it deletes (letters, spaces, "\\").
_DIGIT_RUNS = st.text(alphabet=st.sampled_from('0123456789-:.T Z+e"\\\\[]{}é,'), max_size=60)


@settings(max_examples=500, deadline=None)
@given(_DIGIT_RUNS)
def test_the_digit_guard_with_the_shared_pass_refuses_what_it_refused(text: str) -> None:
    _assert_guard_as_before(text.encode())
    _assert_guard_as_before(json.dumps({"t": text, "n": [1, 2]}).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_the_digit_guard_answers_as_before_for_any_bytes(raw: bytes) -> None:
    _assert_guard_as_before(raw)


@pytest.mark.parametrize("raw", [
    b'{"id": "1234567890123456789"}', b'{"id": "12345678901234567\\\\89"}', b'{"t": "2024-01-15T10:30:00.000+05:00"}',
    b'{"u": "urn:uuid:12345678-1234-1234-1234-123456789012"}', b"[123456789, 1234567890]", b"[1000000000000000000]",
    b'{"x": "abc1234567890def123456789"}', b'"1234567890123456789"', b"1.2345678901234567890",
], ids=lambda raw: repr(raw[:24]))
def test_the_digit_guard_on_bodies_near_the_line(raw: bytes) -> None:
    _assert_guard_as_before(raw)
    _assert_alike(raw)
