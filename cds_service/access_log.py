"""gunicorn's access log line, built from the atoms its format names and nothing else.

Why: for every line gunicorn's ``Logger.atoms`` copies every request header, every response header and the
whole WSGI environ into the atoms (about fifty entries), and ``SafeAtoms`` then escapes each of them, for a
format that uses six (``cli.py``: address, method, path, status, size, duration). Under load that was about
a sixteenth of a worker's time (py-spy, docs/performance.md "Fifth round"). This logger hands gunicorn's own
``atoms`` only the environ keys it reads for its plain atoms and no headers, so every atom the format uses
is gunicorn's own, computed the same way, and the line is the same byte for byte
(``tests/test_access_log.py``). A format that names a header or environ atom (``%({x-request-id}i)s``) gets
gunicorn's full set, as before.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

#: The environ keys ``Logger.atoms`` reads for its plain atoms (h, u, r, m, U, q, H, f, a); the test compares
#: every atom with gunicorn's own, so a gunicorn that reads another key fails it.
_PLAIN_ATOM_KEYS = ("REMOTE_ADDR", "HTTP_AUTHORIZATION", "REQUEST_METHOD", "RAW_URI", "SERVER_PROTOCOL",
                    "PATH_INFO", "QUERY_STRING", "HTTP_REFERER", "HTTP_USER_AGENT")


class _NoHeaders:
    """A response as ``Logger.atoms`` sees it, without its headers: status and bytes sent."""

    __slots__ = ("sent", "status")
    headers: tuple[()] = ()

    def __init__(self, resp: Any) -> None:
        self.status = resp.status
        self.sent = getattr(resp, "sent", None)


class AccessLogger(Logger):
    """gunicorn's logger; its access line skips the header and environ atoms a format does not name."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # "{" starts a header ({name}i, {name}o) or environ ({name}e) atom: only then are they all needed.
        self._plain_format = "%({" not in (cfg.access_log_format or "")

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        if not getattr(self, "_plain_format", False):
            return super().atoms(resp, req, environ, request_time)
        plain = {key: environ[key] for key in _PLAIN_ATOM_KEYS if key in environ}
        return super().atoms(_NoHeaders(resp), (), plain, request_time)
