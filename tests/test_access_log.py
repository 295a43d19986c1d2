"""The access logger writes gunicorn's own line, atom for atom, while building only the atoms it needs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
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


#: Formats read through the named atoms (escaped percents, other conversions, an unknown atom, no atom at all), and
#: ones that keep gunicorn's SafeAtoms (a format % cannot read; "%(B)d" with nothing sent fails as it fails).
ODD_FORMATS = ["%%(h)s %(h)s 100%%", '%(h)r %(s)5s "%(missing)s" %(U).10s', "%(B)d bytes", "no atoms at all",
               "%(h)s %", "%(h)s %(T)x %(D)08d"]


@pytest.mark.parametrize("access_format", ODD_FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_odd_format_gives_gunicorns_line_too(case: str, access_format: str) -> None:
    resp, environ = CASES[case]
    took = timedelta(seconds=1, microseconds=234567)
    ours = _line(AccessLogger, access_format, resp, _Request([]), environ, took)
    assert ours == _line(Logger, access_format, resp, _Request([]), environ, took)


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



@pytest.fixture
def access_log() -> Iterator[logging.Logger]:
    """gunicorn's "gunicorn.access" logger (one for every gunicorn Logger), bare before and after the test."""
    log = logging.getLogger("gunicorn.access")

    def bare() -> None:
        for each in list(log.handlers):
            log.removeHandler(each)
            if getattr(each, "_gunicorn", False):
                each.close()
        for each in list(log.filters):
            log.removeFilter(each)
        log.propagate = False

    bare()
    yield log
    bare()


def _gunicorn_logger(logger_class: type[Logger], accesslog: str) -> Logger:
    """A gunicorn logger as gunicorn sets it up: the access log's handler its own and no other (pytest adds its)."""
    cfg = Config()
    cfg.set("accesslog", accesslog)
    cfg.set("access_log_format", SERVICE_FORMAT)
    logger = logger_class(cfg)
    for each in list(logger.access_log.handlers):
        if getattr(each, "_gunicorn", False):
            each.flush()
        else:
            logger.access_log.removeHandler(each)
    return logger


def _log_every_case(logger: Logger) -> None:
    took = timedelta(seconds=1, microseconds=234567)
    for case in sorted(CASES):
        resp, environ = CASES[case]
        logger.access(resp, _Request([]), environ, took)
    logger.access_log.handlers[0].flush()


def test_a_line_to_gunicorns_file_handler_is_its_own(access_log, tmp_path, monkeypatch) -> None:
    """gunicorn's own handler as gunicorn sets it up: the line is written without a LogRecord, byte for byte."""
    ours = _gunicorn_logger(AccessLogger, str(tmp_path / "ours.log"))
    assert type(access_log.handlers[0]) is logging.FileHandler
    made: list[Any] = []
    with monkeypatch.context() as patch:
        patch.setattr(access_log, "makeRecord", lambda *args, **kwargs: made.append(args))
        _log_every_case(ours)
    assert not made  # the logging machinery was skipped
    ours_handler = access_log.handlers[0]
    access_log.removeHandler(ours_handler)
    ours_handler.close()
    _log_every_case(_gunicorn_logger(Logger, str(tmp_path / "theirs.log")))
    assert (tmp_path / "ours.log").read_bytes() == (tmp_path / "theirs.log").read_bytes()
    assert len((tmp_path / "ours.log").read_bytes().splitlines()) == len(CASES)


def test_gunicorns_stdout_handler_writes_the_same_line(access_log, capsys) -> None:
    resp, environ = CASES["a hook call"]
    for logger_class in (AccessLogger, Logger):
        _gunicorn_logger(logger_class, "-").access(resp, _Request([]), environ, timedelta(microseconds=3400))
    lines = capsys.readouterr().out.splitlines()
    assert lines == ['10.1.2.3 "POST /cds-services/b12-status" 200 4873 3ms'] * 2


class _Upper(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = str(record.msg).upper()
        return True


def _operator_change(change: str, log: logging.Logger, out: io.StringIO) -> None:
    handler = log.handlers[0]
    if change == "handler filter":
        handler.addFilter(_Upper())
    elif change == "logger filter":
        log.addFilter(_Upper())
    elif change == "formatter":
        handler.setFormatter(logging.Formatter("access: %(message)s"))
    elif change == "handler subclass":
        log.removeHandler(handler)
        handler.close()
        log.addHandler(type("OwnHandler", (logging.StreamHandler,), {})(out))
    elif change == "second handler":
        log.addHandler(logging.StreamHandler(out))
    elif change == "propagate":
        log.propagate = True
    elif change == "level":
        handler.setLevel(logging.WARNING)


def _recording(make: Any, made: list[Any]) -> Any:
    def recording_make(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return make(*args, **kwargs)
    return recording_make


@pytest.mark.parametrize("change", ["handler filter", "logger filter", "formatter", "handler subclass",
                                    "second handler", "propagate", "level", "disable"])
def test_an_operators_logging_setup_takes_gunicorns_path(change: str, access_log, tmp_path, caplog) -> None:
    """Anything but gunicorn's own handler as gunicorn sets it up: the line goes through logging, as before."""
    written = {}
    for logger_class in (AccessLogger, Logger):
        logger, out = _gunicorn_logger(logger_class, str(tmp_path / f"{logger_class.__name__}.log")), io.StringIO()
        for each in list(access_log.filters):  # the previous round's filter
            access_log.removeFilter(each)
        _operator_change(change, access_log, out)
        made: list[Any] = []
        access_log.makeRecord = _recording(access_log.makeRecord, made)  # type: ignore[method-assign]
        resp, environ = CASES["a hook call"]
        if change == "disable":
            logging.disable(logging.INFO)
        try:
            with caplog.at_level(logging.INFO, logger="gunicorn.access"):
                logger.access(resp, _Request([]), environ, timedelta(microseconds=3400))
        finally:
            logging.disable(logging.NOTSET)
            del access_log.makeRecord
        for each in access_log.handlers:
            each.flush()
        assert made or change == "disable"  # through the logging machinery (nothing made when disabled)
        written[logger_class] = ((tmp_path / f"{logger_class.__name__}.log").read_text(), out.getvalue(),
                                 [record.getMessage() for record in caplog.records])
        caplog.clear()
        for each in list(access_log.handlers):  # the next set-up removes only gunicorn's own handler
            access_log.removeHandler(each)
            each.close()
    assert written[AccessLogger] == written[Logger]


def test_a_stream_that_fails_is_reported_as_logging_reports_it(access_log, capsys) -> None:
    class _Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("broken pipe")

    logger = _gunicorn_logger(AccessLogger, "-")
    access_log.handlers[0].setStream(_Broken())
    resp, environ = CASES["a hook call"]
    logger.access(resp, _Request([]), environ, timedelta(microseconds=3400))  # does not raise
    assert "--- Logging error ---" in capsys.readouterr().err
