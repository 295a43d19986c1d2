"""Which FHIR servers the service may call back with the EHR's token (FHIR_SERVER_ALLOWLIST).

The caller chooses ``fhirServer``, and the service sends a bearer token there: an open callback would
let anyone aim the service (and the token) at any host. Only configured URL prefixes are called, and
they must be https. In development (AUTH_REQUIRED false) two exceptions serve a local stack: a plain
http prefix may be listed explicitly (``http://hapi:8080/fhir`` in docker-compose), and an empty list
allows loopback servers and nothing else. A production instance refuses an http entry at start-up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import CDSError, ConfigError

DEFAULT_PORTS = {"http": 80, "https": 443}


class ForbiddenServer(CDSError):
    """The request's fhirServer is not one this deployment may call (403; nothing is sent there)."""

    status = 403
    issue_code = "forbidden"


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int
    path: str

    def covers(self, other: _Origin) -> bool:
        """True when ``other`` is this URL or below it (path boundary respected)."""
        same_server = (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)
        return same_server and (other.path == self.path or other.path.startswith(self.path + "/"))


@dataclass(frozen=True)
class ServerPolicy:
    """The allowlist in force, checked once per hook call before any fetch."""

    prefixes: tuple[_Origin, ...]
    development: bool

    @classmethod
    def from_settings(cls, allowlist: Iterable[str], *, development: bool) -> ServerPolicy:
        """Validate the configured prefixes; raise ConfigError naming a bad one."""
        prefixes = []
        for index, entry in enumerate(allowlist):
            origin = _parse(entry) if isinstance(entry, str) else None
            if origin is None:
                raise ConfigError(f"FHIR_SERVER_ALLOWLIST[{index}]: {entry!r} is not an absolute http(s) URL")
            if origin.scheme != "https" and not development:
                raise ConfigError(f"FHIR_SERVER_ALLOWLIST[{index}]: {entry!r} must use https "
                                  "(plain http only in development, with AUTH_REQUIRED=false)")
            prefixes.append(origin)
        return cls(tuple(prefixes), development)

    def check(self, fhir_server: str) -> None:
        """Raise ForbiddenServer unless the service may call ``fhir_server``."""
        origin = _parse(fhir_server)
        if origin is None:
            raise ForbiddenServer("fhirServer must be an absolute http(s) URL", expression=["fhirServer"])
        loopback = _is_loopback(origin.host)
        listed = any(prefix.covers(origin) for prefix in self.prefixes)  # same scheme included
        # Plain http only in development, and only where the operator said so (a listed prefix) or, by
        # default, on this machine; in production no http prefix can be listed (refused at start-up).
        if origin.scheme != "https" and not (self.development and (listed or loopback)):
            raise ForbiddenServer(f"fhirServer {fhir_server} must use https", expression=["fhirServer"])
        if listed:
            return
        if not self.prefixes and self.development and loopback:
            return  # development default: a FHIR server on this machine
        raise ForbiddenServer(f"fhirServer {fhir_server} is not on this service's FHIR_SERVER_ALLOWLIST; "
                              "nothing was sent to it", expression=["fhirServer"])


def _parse(url: str) -> _Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return _Origin(scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme], parts.path.rstrip("/"))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
