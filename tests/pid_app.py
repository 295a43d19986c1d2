"""A WSGI app for tests/test_workers.py: answers with its process id after computing for ``?spin=`` seconds.

Computing (a Python loop) holds the interpreter lock the way a hook call's rules and cards do; sleeping would not.
"""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    spin = float(parse_qs(environ.get("QUERY_STRING", "")).get("spin", ["0"])[0])
    until = time.monotonic() + spin
    while time.monotonic() < until:
        pass
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
