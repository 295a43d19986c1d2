"""gunicorn's access log line, built from the atoms its format names and nothing else, and written straight to
gunicorn's own handler.

Why: for every line gunicorn's ``Logger.atoms`` copies every request header, every response header and the
whole WSGI environ into the atoms (about fifty entries), and ``SafeAtoms`` then escapes each of them, for a
format that uses six (``cli.py``: address, method, path, status, size, duration). Under load that was about
a sixteenth of a worker's time (py-spy, docs/performance.md "Fifth round"). This logger hands gunicorn's own
``atoms`` only the environ keys it reads for its plain atoms and no headers, so every atom the format uses
is gunicorn's own, computed the same way, and the line is the same byte for byte
(``tests/test_access_log.py``). A format that names a header or environ atom (``%({x-request-id}i)s``) gets
gunicorn's full set, as before.

Then the line itself: ``Logger.info`` makes a ``LogRecord`` (the caller's frame found by walking the stack, the
thread's and process's names, the time) and passes it through the logger's and the handler's filters to a
formatter that, for gunicorn's handler, prints the message alone. When the access log is gunicorn's own
handler as gunicorn sets it up (a stream or file handler, formatter ``%(message)s``, no filters, not
propagated), this logger writes ``format % atoms`` to that handler's stream under its lock, as its ``emit``
does: the same bytes, 194,000 -> 142,000 instructions a line (callgrind). Any other set-up (an operator's
logging config, syslog, a handler or filter of one's own, ``logging.disable``) takes gunicorn's path, as before.
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

#: The environ keys ``Logger.atoms`` reads for its plain atoms (h, u, r, m, U, q, H, f, a); the test compares
#: every atom with gunicorn's own, so a gunicorn that reads another key fails it.
_PLAIN_ATOM_KEYS = ("REMOTE_ADDR", "HTTP_AUTHORIZATION", "REQUEST_METHOD", "RAW_URI", "SERVER_PROTOCOL",
                    "PATH_INFO", "QUERY_STRING", "HTTP_REFERER", "HTTP_USER_AGENT")
#: The handler classes gunicorn gives the access log (``accesslog`` "-" or a file), exactly these classes.
_GUNICORN_HANDLERS = (logging.StreamHandler, logging.FileHandler)


class _NoHeaders:
    """A response as ``Logger.atoms`` sees it, without its headers: status and bytes sent."""

    __slots__ = ("sent", "status")
    headers: tuple[()] = ()

    def __init__(self, resp: Any) -> None:
        self.status = resp.status
        self.sent = getattr(resp, "sent", None)


class AccessLogger(Logger):
    """gunicorn's logger; its access line skips the header and environ atoms a format does not name, and the
    logging machinery when the line goes to gunicorn's own handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # "{" starts a header ({name}i, {name}o) or environ ({name}e) atom: only then are they all needed.
        self._plain_format = "%({" not in (cfg.access_log_format or "")
        self._atom_names = _atom_names(cfg.access_log_format) if self._plain_format else None

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        if not getattr(self, "_plain_format", False):
            return super().atoms(resp, req, environ, request_time)
        plain = {key: environ[key] for key in _PLAIN_ATOM_KEYS if key in environ}
        return super().atoms(_NoHeaders(resp), (), plain, request_time)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        handler = self._gunicorns_handler()
        if handler is None or not self.access_log_enabled:
            super().access(resp, req, environ, request_time)
            return
        access_format = self.cfg.access_log_format
        atoms = self.atoms(resp, req, environ, request_time)
        try:  # LogRecord.getMessage, then "%(message)s"
            if self._atom_names is not None and self.atoms_wrapper_class is SafeAtoms:
                line = str(access_format) % _safe(atoms, self._atom_names)
            else:
                line = str(access_format) % self.atoms_wrapper_class(atoms)
        except Exception:  # gunicorn's path reports a bad format its own way: let it
            super().access(resp, req, environ, request_time)
            return
        handler.acquire()
        try:  # StreamHandler.emit (and its flush) under the handler's lock, as Handler.handle takes it
            stream = handler.stream
            if stream is None:  # closed meanwhile (at exit): FileHandler.emit would reopen it, so gunicorn's path
                super().access(resp, req, environ, request_time)
                return
            stream.write(line + handler.terminator)
            if hasattr(stream, "flush"):
                stream.flush()
        except RecursionError:
            raise
        except Exception:  # as emit: the handler reports it (stderr) and the worker carries on
            handler.handleError(self.access_log.makeRecord(
                self.access_log.name, logging.INFO, "(unknown file)", 0, access_format,
                (self.atoms_wrapper_class(atoms),), None))
        finally:
            handler.release()

    def _gunicorns_handler(self) -> logging.StreamHandler | None:
        """The access log's one handler if it is gunicorn's own, as gunicorn set it up, and would write this line."""
        log = self.access_log
        handlers = log.handlers
        if len(handlers) != 1 or log.propagate or log.filters or log.disabled or not log.isEnabledFor(logging.INFO):
            return None
        handler = handlers[0]
        formatter = handler.formatter
        if (type(handler) not in _GUNICORN_HANDLERS or handler.filters or handler.level > logging.INFO
                or handler.stream is None or type(formatter) is not logging.Formatter
                or type(formatter._style) is not logging.PercentStyle
                or formatter._fmt != self.access_fmt or self.access_fmt != "%(message)s"):
            return None
        return handler


def _atom_names(access_format: str | None) -> tuple[str, ...] | None:
    """The atoms a format names, in order, if it names each value it prints (``%(h)s``, not ``%s``); else None.

    >>> _atom_names('%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms 100%%'), _atom_names("%s"), _atom_names("%(h")
    (('h', 'm', 'U', 's', 'B', 'M'), None, None)
    """
    unescaped = (access_format or "").replace("%%", "")
    if unescaped.count("%") != unescaped.count("%("):
        return None
    names: list[str] = []

    class _Names(dict):  # type: ignore[type-arg]
        def __getitem__(self, name: str) -> int:
            names.append(name)
            return 0  # every conversion (s, r, d, f, x, c) takes 0

    try:
        (access_format or "") % _Names()
    except Exception:  # a format % cannot read: gunicorn's SafeAtoms, and its error
        return None
    return tuple(names)


def _safe(atoms: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``SafeAtoms(atoms)`` as the format reads it, for just the atoms it names.

    Why: ``SafeAtoms`` escapes the quotes of all twenty atoms and the format then looks up each of its six through
    a Python ``__getitem__``: 57,000 of a line's 142,000 instructions; with this 100,000 (callgrind). For a name
    without "{" (the only kind here) ``SafeAtoms`` answers the atom, its quotes escaped if it is text, or "-".
    """
    values = {}
    for name in names:
        value = atoms.get(name, "-")
        values[name] = value.replace('"', '\\"') if isinstance(value, str) else value
    return values
