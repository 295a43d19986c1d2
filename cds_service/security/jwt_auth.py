"""Verify the EHR's bearer JWT on every CDS Hooks call (CDS Hooks 2.0, Trusting CDS Clients)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from ..errors import ConfigError, Unauthorized
from .issuers import DEFAULT_ALGORITHMS, IssuerPolicy, check_algorithms, load_issuers
from .keys import JWK, UrlKeySource
from .replay import InMemoryReplayCache, ReplayCache

log = logging.getLogger(__name__)

#: The one message every failure gets: the caller never learns why (best practice: 401 "without any
#: additional information"). The reason goes to the server log only.
FAILURE_MESSAGE = "authentication failed"
#: Longest token accepted; real ones are under 2 kB.
MAX_TOKEN_CHARS = 16_384
#: Longest lifetime (exp - iat) accepted. Why: the spec keeps jti "no more than an hour", so a longer-lived
#: token could be replayed once the cache forgets it.
MAX_TOKEN_LIFETIME_SECONDS = 3600
#: Claims PyJWT must find in every token (CDS Hooks 2.0: iss, aud, exp, iat, jti are REQUIRED).
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "jti"]


@dataclass(frozen=True)
class Claims:
    """Who called: the verified claims the service may use and log."""

    iss: str
    sub: str | None
    jti: str
    tenant: str | None
    exp: float


class _RejectedError(Exception):
    """Why a token was refused: for the log, never for the caller."""

    def __init__(self, reason: str, iss: Any = None, kid: Any = None, *,
                 level: int = logging.WARNING) -> None:
        super().__init__(reason)
        self.reason, self.iss, self.kid, self.level = reason, iss, kid, level


class Authenticator:
    """Check ``Authorization: Bearer <JWT>`` against the trusted issuers; one instance per app."""

    def __init__(self, trusted_issuers: Mapping[str, Mapping[str, Any]], *,
                 algorithms: Collection[str] = DEFAULT_ALGORITHMS, leeway_seconds: int = 30,
                 http_timeout: float = 3.0, replay_cache: ReplayCache | None = None,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(leeway_seconds, int) or not 0 <= leeway_seconds <= 300:
            raise ConfigError(f"leeway_seconds: expected 0 to 300 seconds, got {leeway_seconds!r}")
        if not isinstance(http_timeout, int | float) or http_timeout <= 0:
            raise ConfigError(f"http_timeout: expected a positive number of seconds, got {http_timeout!r}")
        self._leeway = leeway_seconds
        self._clock = clock
        self._replay = replay_cache if replay_cache is not None else InMemoryReplayCache(clock)
        http = session if session is not None else requests.Session()
        self._issuers = load_issuers(
            trusted_issuers, check_algorithms(algorithms, "algorithms"),
            lambda url: UrlKeySource(url, http, http_timeout, clock),
        )

    def verify(self, authorization_header: str | None, audience: str) -> Claims:
        """Return the token's claims if it is valid for ``audience`` (this endpoint's public URL).

        :raises Unauthorized: on any failure, always with the same message.
        """
        try:
            return self._verify(authorization_header, audience)
        except _RejectedError as rejected:
            log.log(rejected.level, "bearer JWT rejected: %s (iss=%s, kid=%s)", rejected.reason,
                    _loggable(rejected.iss), _loggable(rejected.kid))
        except Exception as exc:  # fail closed: a bug or a down replay store must not let a caller in
            log.error("bearer JWT check failed unexpectedly: %s", type(exc).__name__)
        raise Unauthorized(FAILURE_MESSAGE)

    def _verify(self, authorization_header: str | None, audience: str) -> Claims:
        token = _bearer_token(authorization_header)
        header, unverified = _unverified(token)
        kid, iss = header.get("kid"), unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise _RejectedError("iss is not a trusted issuer", iss, kid)
        _check_header(header, issuer)
        payload = self._decode(token, header, issuer, audience)
        self._check_times(payload, issuer.iss, kid)
        claims = _claims(payload, issuer, kid)
        if self._replay.seen(claims.jti, claims.iss, claims.exp + self._leeway):
            raise _RejectedError("jti already used (replay)", iss, kid)
        return claims

    def _decode(self, token: str, header: dict[str, Any], issuer: IssuerPolicy, audience: str) -> dict:
        """Check signature, iss, aud and required claims with PyJWT; times are checked with our clock."""
        key = _signing_key(issuer, header["kid"], header["alg"])
        try:
            return jwt.decode(
                token, key, algorithms=[header["alg"]], audience=_audiences(audience), issuer=issuer.iss,
                options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False, "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as exc:
            raise _RejectedError(f"PyJWT: {type(exc).__name__}", issuer.iss, header["kid"]) from None

    def _check_times(self, payload: dict[str, Any], iss: str, kid: str) -> None:
        """exp not passed, iat and nbf not in the future (all with the leeway), lifetime at most an hour."""
        now, leeway = self._clock(), self._leeway
        exp, iat, nbf = (payload.get(name) for name in ("exp", "iat", "nbf"))
        if not all(_is_time(value) for value in (exp, iat)) or (nbf is not None and not _is_time(nbf)):
            raise _RejectedError("exp, iat or nbf is not a number", iss, kid)
        if exp <= now - leeway:
            raise _RejectedError("token expired (exp)", iss, kid)
        if iat > now + leeway or (nbf is not None and nbf > now + leeway):
            raise _RejectedError("token not yet valid (iat or nbf in the future)", iss, kid)
        if exp - iat > MAX_TOKEN_LIFETIME_SECONDS:
            raise _RejectedError(f"token lifetime over {MAX_TOKEN_LIFETIME_SECONDS} s", iss, kid)


def _bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise _RejectedError("no Authorization header", level=logging.INFO)
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer":
        raise _RejectedError("Authorization is not a Bearer token")
    if not token or " " in token or len(token) > MAX_TOKEN_CHARS:
        raise _RejectedError("malformed bearer token")
    return token


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read header and claims without checking the signature: only to choose the issuer and key."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise _RejectedError(f"not a JWT ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise _RejectedError("JWT payload is not an object")
    return header, payload


def _check_header(header: dict[str, Any], issuer: IssuerPolicy) -> None:
    """alg allowed for this issuer, typ JWT, kid present, jku (if any) on the issuer's list."""
    alg, kid, typ, jku = (header.get(name) for name in ("alg", "kid", "typ", "jku"))
    if not isinstance(alg, str) or alg not in issuer.algorithms:
        raise _RejectedError(f"alg {str(alg)[:10]!r} not allowed", issuer.iss, kid)
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise _RejectedError("typ is not JWT", issuer.iss, kid)
    if not isinstance(kid, str) or not kid:
        raise _RejectedError("no kid in the header", issuer.iss, kid)
    if jku is not None and (not isinstance(jku, str) or jku not in issuer.jku):
        # Why: a jku the token chooses is never fetched; fetching it would let the token pick its own key.
        raise _RejectedError("jku is not on the issuer's list", issuer.iss, kid)


def _signing_key(issuer: IssuerPolicy, kid: str, alg: str) -> jwt.PyJWK:
    """Choose the one key with this kid and build it for ``alg`` (a key pinned to another alg is refused)."""
    candidates: list[JWK] = issuer.keys.find(kid)
    if len(candidates) != 1:
        reason = "kid matches several keys" if candidates else "kid matches no key"
        raise _RejectedError(reason, issuer.iss, kid)
    jwk = candidates[0]
    if jwk.get("alg", alg) != alg:
        raise _RejectedError("token alg differs from the key's alg", issuer.iss, kid)
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError as exc:
        raise _RejectedError(f"key unusable for {alg} ({type(exc).__name__})", issuer.iss, kid) from None


def _claims(payload: dict[str, Any], issuer: IssuerPolicy, kid: str) -> Claims:
    jti, sub, tenant = payload["jti"], payload.get("sub"), payload.get("tenant")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise _RejectedError("jti is empty or too long", issuer.iss, kid)
    if tenant is not None and not isinstance(tenant, str):
        raise _RejectedError("tenant is not a string", issuer.iss, kid)
    if issuer.tenants is not None and tenant not in issuer.tenants:
        raise _RejectedError("tenant is not on the issuer's list", issuer.iss, kid)
    return Claims(iss=issuer.iss, sub=sub, jti=jti, tenant=tenant, exp=float(payload["exp"]))


def _audiences(audience: str) -> list[str]:
    """The aud values that name this endpoint: with and without one trailing slash.

    >>> _audiences("https://cds.example.org/cds-services/")
    ['https://cds.example.org/cds-services', 'https://cds.example.org/cds-services/']
    """
    bare = audience.removesuffix("/")
    return [bare, bare + "/"]


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _loggable(value: Any) -> str | None:
    """An iss or kid fit for the log: unverified input, so quoted (no forged log lines) and truncated."""
    return None if value is None else repr(str(value)[:200])
