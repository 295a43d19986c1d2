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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

#: Above this ``MAX_JSON_DEPTH`` json's own recursion limit (about 1,000 levels less the call stack) could
#: refuse a body orjson reads (it takes 1,024): only ``json`` decides then.
ORJSON_MAX_DEPTH = 256
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))  # digits "0", the rest " "
_LONG_DIGIT_RUN = b"0" * 19  # 10**18 and above: the first integers that might not fit orjson's 64 bits


def loads(raw: bytes, max_depth: int) -> Any:
    """Return ``json.loads(raw)``, or raise what it raises; decoded by orjson where that gives the same value.

    The garbage collector is paused meanwhile: decoding builds tens of thousands of objects that form a
    tree (JSON has no cycles to collect). Left on, the collector scans them over and over as they are made
    and moves them all to its oldest generation, whose growth sets off a collection of the whole heap.
    """
    with _collector_paused():
        if max_depth <= ORJSON_MAX_DEPTH and _orjson_reads_alike(raw):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass  # json decides: it may read the body (NaN, 1e400, a lone surrogate), or says why not
        return json.loads(raw)


def _orjson_reads_alike(raw: bytes) -> bool:
    """True when orjson's value of ``raw`` (if it has one) is json's: UTF-8 without a BOM, no 19-digit run."""
    return (isinstance(raw, bytes) and json.detect_encoding(raw) == "utf-8"
            and _LONG_DIGIT_RUN not in raw.translate(_DIGITS_ONLY))


_pause_lock = threading.Lock()
_paused = 0  # decodes in flight (a worker's threads share one collector)
_resume = False  # whether the collector was on when the first of them paused it


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the garbage collector for the block; the last thread to leave turns it back on if it was on."""
    global _paused, _resume
    with _pause_lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()
