"""Where a trusted issuer's public keys come from: a JWKS file read at start-up, or a JWKS URL, cached."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import requests

log = logging.getLogger(__name__)

JWK = dict[str, Any]

#: Largest JWK Set read, from a file or a URL. Real ones are a few kB.
MAX_JWKS_BYTES = 1_000_000
#: A fetched JWK Set is reused this long before it is fetched again.
JWKS_TTL_SECONDS = 3600.0
#: An unknown ``kid`` forces a refetch (the issuer may have rotated its keys) at most this often.
MIN_REFETCH_SECONDS = 60.0
#: After a failed fetch, wait this long before trying again (the URL may be down).
RETRY_AFTER_FAILURE_SECONDS = 5.0

#: Key sets shipped with b12-cds, named in TRUSTED_ISSUERS as ``"jwks_file": "builtin:<name>"``.
#: sandbox-jwks.json is a verbatim copy of build/.well-known/jwks.json in github.com/cds-hooks/sandbox
#: (last changed in commit 3daf1c8, 2019-10-22), the public key the CDS Hooks sandbox signs ES384 with.
BUILTIN_JWKS = {"builtin:cds-hooks-sandbox": Path(__file__).with_name("sandbox-jwks.json")}


class JwksError(Exception):
    """A JWK Set could not be had, or is not one."""


class KeySource(Protocol):
    """The public keys of one issuer."""

    def find(self, kid: str) -> list[JWK]:
        """Return the signing keys with this ``kid`` (none if unknown)."""
        ...


def parse_jwks(document: Any) -> dict[str, list[JWK]]:
    """Index a JWK Set's signing keys by ``kid``; keys without a kid, or not for signing, are skipped.

    >>> sorted(parse_jwks({"keys": [{"kty": "EC", "kid": "a"}, {"kty": "RSA", "use": "enc", "kid": "b"}]}))
    ['a']
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("not a JWK Set: no 'keys' list")
    by_kid: dict[str, list[JWK]] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or jwk.get("use", "sig") != "sig":
            continue
        if "d" in jwk or jwk.get("kty") == "oct":
            # Why: a published private or symmetric key lets anyone sign; trusting it is no authentication.
            raise JwksError(f"key {jwk['kid']!r} is private or symmetric; publish public keys only")
        by_kid.setdefault(jwk["kid"], []).append(jwk)
    return by_kid


class FileKeySource:
    """Keys from a JWKS file (or a builtin one), read once; for issuers whose keys are shared out of band."""

    def __init__(self, path: str) -> None:
        file = BUILTIN_JWKS.get(path) or Path(path)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise JwksError(f"cannot read {file}: {exc.strerror}") from exc
        if len(raw) > MAX_JWKS_BYTES:
            raise JwksError(f"{file} is over {MAX_JWKS_BYTES} bytes")
        self._keys = parse_jwks(_json(raw))
        if not self._keys:
            raise JwksError(f"{file} holds no signing key with a kid")

    def find(self, kid: str) -> list[JWK]:
        """Return the keys with this ``kid``."""
        return list(self._keys.get(kid, ()))


class UrlKeySource:
    """Keys fetched from a JWKS URL: cached, refetched when stale or (rate-limited) on an unknown kid."""

    def __init__(self, url: str, session: requests.Session, timeout: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self._session = session
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()  # one fetch at a time per issuer, however many requests wait
        self._keys: dict[str, list[JWK]] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._forced_at: float | None = None

    def find(self, kid: str) -> list[JWK]:
        """Return the keys with this ``kid``, fetching the JWK Set first if it is missing or stale."""
        with self._lock:
            now = self._clock()
            refreshed = self._due(now) and self._refresh(now)
            loaded_earlier = self._fetched_at is not None and not refreshed
            if kid not in self._keys and loaded_earlier and self._may_force(now):
                self._forced_at = now
                self._refresh(now)
            return list(self._keys.get(kid, ()))

    def _due(self, now: float) -> bool:
        stale = self._fetched_at is None or now - self._fetched_at >= JWKS_TTL_SECONDS
        backing_off = self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE_SECONDS
        return stale and not backing_off

    def _may_force(self, now: float) -> bool:
        return self._forced_at is None or now - self._forced_at >= MIN_REFETCH_SECONDS

    def _refresh(self, now: float) -> bool:
        """Fetch the JWK Set; on failure keep the keys we had. Return True if the fetch succeeded."""
        try:
            self._keys = self._fetch()
        except JwksError as exc:
            self._failed_at = now
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return False
        self._fetched_at, self._failed_at = now, None
        log.info("JWKS fetched from %s: kids %s", self.url, sorted(self._keys))
        return True

    def _fetch(self) -> dict[str, list[JWK]]:
        try:
            with self._session.get(self.url, timeout=self._timeout, allow_redirects=False, stream=True,
                                   headers={"Accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise JwksError(f"HTTP {response.status_code}")  # a redirect too: never followed
                raw = _read_capped(response, deadline=time.monotonic() + self._timeout)
        except requests.RequestException as exc:
            raise JwksError(type(exc).__name__) from exc
        return parse_jwks(_json(raw))


def _read_capped(response: requests.Response, deadline: float) -> bytes:
    """Read the body, refusing one over MAX_JWKS_BYTES or one that trickles in past the deadline."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
        raise JwksError(f"response declares {declared} bytes, over {MAX_JWKS_BYTES}")
    body = bytearray()
    for chunk in response.iter_content(chunk_size=65536):
        body += chunk
        if len(body) > MAX_JWKS_BYTES:
            raise JwksError(f"response is over {MAX_JWKS_BYTES} bytes")
        if time.monotonic() > deadline:
            raise JwksError("response took too long")
    return bytes(body)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise JwksError("not JSON") from exc
