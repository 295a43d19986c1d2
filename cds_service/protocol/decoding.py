"""Decode a request body: the standard ``json`` module's value, sooner for the bodies orjson reads alike.

``json.loads`` decides what a body means and which bodies are refused (and with which message). orjson
decodes a 2 MB prefetch about twice as fast, but differs from it in places: an integer beyond 64 bits
becomes a float, UTF-16/32 bodies and a UTF-8 byte order mark are refused, and so are ``NaN``,
``Infinity``, numbers beyond the float range (``1e400``) and lone surrogates, which ``json`` reads.
So orjson is asked only about a UTF-8 body with no run of 19 digits or more (every integer it reads
then fits 64 bits), and any body it refuses goes to ``json``, which answers as before: the same value
for every body orjson takes, the same error for every body it does not (``tests/test_decoding.py``).
"""

from __future__ import annotations

import gc
import json
import threading
from typing import Any, NamedTuple

import orjson

#: Above this ``MAX_JSON_DEPTH`` json's own recursion limit (about 1,000 levels less the call stack) could
#: refuse a body orjson reads (it takes 1,024): only ``json`` decides then.
ORJSON_MAX_DEPTH = 256
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))  # digits "0", the rest " "
_LONG_DIGIT_RUN = b"0" * 19  # 10**18 and above: the first integers that might not fit orjson's 64 bits

#: ``outline``'s one pass: digits become "0"; "-", ":" and "." (which split the digit runs of dates, times and
#: uuids) become "-"; quotes stay, and brackets, "[]" as "{}"; every other byte is deleted.
_OUTLINE = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x2D if byte in b"-:." else byte for byte in range(256)).translate(
    bytes.maketrans(b"[]", b"{}"))
_OUTLINE_DELETES = bytes(range(256)).translate(None, b'"[]{}0123456789-:.')


class Outline(NamedTuple):
    """What the two guards need from a body's bytes (``outline``)."""

    brackets: bytes  #: the brackets outside strings, in order, "[]" as "{}": their nesting is the body's
    long_digit_run: bool  #: whether the body holds a run of 19 digits or more, strings included


def outline(raw: bytes) -> Outline:
    r"""Read, in one pass over a JSON body in UTF-8, the brackets outside strings and whether it has a long digit run.

    Why: the depth check and the digit guard each made a pass over the whole body (``bytes.translate``, about
    9 instructions a byte with deletions); one pass keeping digits, their usual separators, quotes and brackets
    serves both: 418,000 -> 292,000 instructions for the 15 KB order-sign body (callgrind). A run of 19 digits
    in the body is a run of 19 "0" in that pass (nothing between its digits is deleted); only then is the body
    looked at again, digits alone, as before, so the digit guard's answer is the same for every body
    (``tests/test_decoding.py``). The brackets: escaped backslashes and quotes are cut out, then the string
    contents (between quotes), after dropping every ``""`` (an empty string, or two strings side by side) so
    that little is left to split; the same brackets as before (``tests/test_json_depth.py``).

    >>> outline(b'{"a": [{"b": "[[[[\\"]]", "t": "2024-01-15T10:30:00.000+05:00"}, 12]}')
    Outline(brackets=b'{{{}}}', long_digit_run=False)
    """
    cut = raw.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in raw else raw  # rare in FHIR: 2 passes saved
    kept = cut.translate(_OUTLINE, _OUTLINE_DELETES)
    long_digit_run = _LONG_DIGIT_RUN in kept and _LONG_DIGIT_RUN in raw.translate(_DIGITS_ONLY)
    quotes_and_brackets = kept.translate(None, b"0-").replace(b'""', b"")
    if b'"' in quotes_and_brackets:
        return Outline(b"".join(quotes_and_brackets.split(b'"')[::2]), long_digit_run)
    return Outline(quotes_and_brackets, long_digit_run)


def loads(raw: bytes, max_depth: int, scan: Outline | None = None, encoding: str | None = None) -> Any:
    """Return ``json.loads(raw)``, or raise what it raises; decoded by orjson where that gives the same value.

    ``scan`` is ``outline(raw)`` and ``encoding`` is ``json.detect_encoding(raw)`` when the caller has them
    (each is worked out here otherwise). The garbage collector is paused meanwhile: decoding
    builds tens of thousands of objects that form a tree (JSON has no cycles to collect). Left on, the
    collector scans them over and over as they are made and moves them all to its oldest generation, whose
    growth sets off a collection of the whole heap.
    """
    _pause_collector()
    try:
        if max_depth <= ORJSON_MAX_DEPTH and _orjson_reads_alike(raw, scan, encoding):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass  # json decides: it may read the body (NaN, 1e400, a lone surrogate), or says why not
        return json.loads(raw)
    finally:
        _resume_collector()


def _orjson_reads_alike(raw: bytes, scan: Outline | None = None, encoding: str | None = None) -> bool:
    """True when orjson's value of ``raw`` (if it has one) is json's: UTF-8 without a BOM, no 19-digit run.

    ``encoding``: ``json.detect_encoding(raw)`` if the caller has it (a Python function of about 6,000
    instructions, which ``decode_json_body`` had already called).
    """
    if not isinstance(raw, bytes):
        return False
    if (encoding if encoding is not None else json.detect_encoding(raw)) != "utf-8":
        return False
    return not (scan.long_digit_run if scan is not None else _LONG_DIGIT_RUN in raw.translate(_DIGITS_ONLY))


_pause_lock = threading.Lock()
_paused = 0  # decodes in flight (a worker's threads share one collector)
_resume = False  # whether the collector was on when the first of them paused it


# Two plain functions rather than a @contextmanager: its generator cost 2-3 µs a call.
def _pause_collector() -> None:
    """Pause the garbage collector; ``_resume_collector`` turns it back on when the last pausing thread is done."""
    global _paused, _resume
    with _pause_lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1


def _resume_collector() -> None:
    global _paused
    with _pause_lock:
        _paused -= 1
        if _paused == 0 and _resume:
            gc.enable()
