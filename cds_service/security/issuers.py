"""TRUSTED_ISSUERS, checked at start-up: for each trusted ``iss``, its keys, algorithms, jku and tenants."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .keys import FileKeySource, JwksError, KeySource

#: Asymmetric signature algorithms an operator may allow. Never ``none`` or HMAC (HS*): CDS Hooks 2.0
#: "SHALL NOT" use them, and HS* with a public key as the secret is the classic key-confusion forgery.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)
#: What CDS Hooks 2.0 recommends, and what the sandbox (ES384) uses.
DEFAULT_ALGORITHMS = ("ES384", "RS384")

_FIELDS = frozenset({"jwks_url", "jwks_file", "jku", "algorithms", "tenants"})


@dataclass(frozen=True)
class IssuerPolicy:
    """What a token from one trusted issuer must satisfy, and where its keys are."""

    iss: str
    keys: KeySource
    algorithms: frozenset[str]
    jku: frozenset[str]
    tenants: frozenset[str] | None  # None: any tenant, or none


def check_algorithms(algorithms: Any, where: str) -> frozenset[str]:
    """Return the algorithms as a set, refusing an empty list and anything not asymmetric."""
    if not isinstance(algorithms, list | tuple | set | frozenset) or not algorithms:
        example = list(DEFAULT_ALGORITHMS)
        raise ConfigError(f"{where}: expected a non-empty list of algorithms, e.g. {example}")
    names = frozenset(str(alg) for alg in algorithms)
    refused = sorted(names - ASYMMETRIC_ALGORITHMS)
    if refused:
        raise ConfigError(f"{where}: {refused} not allowed; choose from {sorted(ASYMMETRIC_ALGORITHMS)} "
                          "('none' and symmetric HS* are never accepted)")
    return names


def load_issuers(trusted_issuers: Mapping[str, Mapping[str, Any]], algorithms: frozenset[str],
                 url_source: Callable[[str], KeySource]) -> dict[str, IssuerPolicy]:
    """Check every issuer's settings and build its policy; raise ConfigError naming issuer and field."""
    if not isinstance(trusted_issuers, Mapping) or not trusted_issuers:
        raise ConfigError("TRUSTED_ISSUERS: no issuer is trusted, so no caller could authenticate")
    return {iss: _issuer(iss, settings, algorithms, url_source) for iss, settings in trusted_issuers.items()}


def _issuer(iss: str, settings: Any, algorithms: frozenset[str],
            url_source: Callable[[str], KeySource]) -> IssuerPolicy:
    where = f"TRUSTED_ISSUERS[{iss!r}]"
    if not isinstance(iss, str) or not iss:
        raise ConfigError(f"{where}: an issuer must be a non-empty string")
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{where}: expected an object with jwks_url or jwks_file")
    unknown = sorted(set(settings) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(_FIELDS)}")
    url, file = settings.get("jwks_url"), settings.get("jwks_file")
    if (url is None) == (file is None):
        raise ConfigError(f"{where}: give exactly one of jwks_url and jwks_file")
    if url is not None:
        keys = url_source(_https_url(url, f"{where}.jwks_url"))
    else:
        keys = _file_source(file, f"{where}.jwks_file")
    default_jku = [url] if url is not None else []
    return IssuerPolicy(
        iss=iss,
        keys=keys,
        algorithms=check_algorithms(settings.get("algorithms", algorithms), f"{where}.algorithms"),
        jku=frozenset(_https_url(jku, f"{where}.jku") for jku in _listed(settings.get("jku", default_jku))),
        tenants=_tenants(settings.get("tenants"), f"{where}.tenants"),
    )


def _file_source(path: Any, where: str) -> FileKeySource:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}: expected a file path or 'builtin:cds-hooks-sandbox'")
    try:
        return FileKeySource(path)
    except JwksError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _https_url(value: Any, where: str) -> str:
    # Why https only: keys fetched over plain HTTP could be swapped by anyone on the path.
    if not isinstance(value, str) or not value.startswith("https://") or len(value) <= len("https://"):
        raise ConfigError(f"{where}: expected an https:// URL, got {value!r}")
    return value


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else [value]


def _tenants(value: Any, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    tenants = _listed(value)
    if not tenants or not all(isinstance(tenant, str) and tenant for tenant in tenants):
        raise ConfigError(f"{where}: expected a non-empty list of tenant ids")
    return frozenset(tenants)
