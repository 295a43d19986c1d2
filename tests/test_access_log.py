"""The access logger writes gunicorn's own line, atom for atom, while building only the atoms it needs."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from cds_service.access_log import AccessLogger

SERVICE_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'  # cli.py
#: Every plain atom gunicorn documents, except the clock (t) and the process id (p), which differ between two calls.
EVERY_PLAIN_ATOM = '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(m)s %(U)s %(q)s %(H)s %(b)s %(B)s "%(f)s" "%(a)s" ' \
                   '%(T)s %(D)s %(M)s %(L)s %(missing)s'


class _Response:
    def __init__(self, status: Any, sent: int | None, headers: list[tuple[str, str]]) -> None:
        self.status, self.sent, self.headers = status, sent, headers


class _Request:
    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers


def _line(logger_class: type[Logger], access_format: str, resp: Any, req: Any, environ: dict[str, Any],
          took: timedelta) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_format)
    logger = logger_class(cfg)
    out = io.StringIO()
    for handler in list(logger.access_log.handlers):
        logger.access_log.removeHandler(handler)
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.access_log.addHandler(handler)
    logger.access(resp, req, environ, took)
    return out.getvalue()


def _environ(**extra: str) -> dict[str, Any]:
    environ = {"REMOTE_ADDR": "10.1.2.3", "REQUEST_METHOD": "POST", "RAW_URI": "/cds-services/b12-status?x=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/cds-services/b12-status", "QUERY_STRING": "x=1",
               "HTTP_USER_AGENT": 'EHR "client" 1.0', "HTTP_REFERER": "https://ehr.example.org/chart",
               "HTTP_AUTHORIZATION": "Bearer eyJ.secret.jwt", "CONTENT_TYPE": "application/json",
               "wsgi.url_scheme": "http"}
    environ.update(extra)
    return environ


CASES = {
    "a hook call": (_Response("200 OK", 4873, [("Content-Type", "application/json")]), _environ()),
    "a quote and non-ASCII in the path": (_Response("404 NOT FOUND", 120, []),
                                          _environ(PATH_INFO='/cds-services/"b12"-état')),
    "nothing sent": (_Response("500 INTERNAL SERVER ERROR", None, []), _environ()),
    "an integer status": (_Response(204, 0, []), _environ()),
    "basic authentication": (_Response("401 UNAUTHORIZED", 90, []),
                             _environ(HTTP_AUTHORIZATION="Basic ZGVtbzpzZWNyZXQ=")),
    "no remote address, referer or agent": (
        _Response("200 OK", 13, []),
        {k: v for k, v in _environ().items() if k not in ("REMOTE_ADDR", "HTTP_REFERER", "HTTP_USER_AGENT")}),
}


@pytest.mark.parametrize("access_format", [SERVICE_FORMAT, EVERY_PLAIN_ATOM], ids=["service format", "every atom"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_line_is_gunicorns_own(case: str, access_format: str) -> None:
    resp, environ = CASES[case]
    req = _Request([("Content-Type", "application/json"), ("Authorization", "Bearer eyJ.secret.jwt")])
    took = timedelta(seconds=1, microseconds=234567)
    ours = _line(AccessLogger, access_format, resp, req, environ, took)
    assert ours == _line(Logger, access_format, resp, req, environ, took)
    assert ours.strip()


def test_service_format_line() -> None:
    resp, environ = CASES["a hook call"]
    line = _line(AccessLogger, SERVICE_FORMAT, resp, _Request([]), environ, timedelta(microseconds=3400))
    assert line == '10.1.2.3 "POST /cds-services/b12-status" 200 4873 3ms\n'
    assert "secret" not in line and "x=1" not in line  # no token, no query string


def test_header_atoms_still_work() -> None:
    """A format naming a header or environ atom gets gunicorn's full set of atoms."""
    access_format = '%(U)s %({x-request-id}i)s %({content-type}o)s %({wsgi.url_scheme}e)s'
    resp = _Response("200 OK", 10, [("Content-Type", "application/json")])
    req = _Request([("X-Request-ID", "abc-123")])
    ours = _line(AccessLogger, access_format, resp, req, _environ(), timedelta(0))
    assert ours == _line(Logger, access_format, resp, req, _environ(), timedelta(0))
    assert ours == "/cds-services/b12-status abc-123 application/json http\n"
