"""Settings: defaults here, overridden by ``CDS_*`` environment variables, then by the factory's mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

#: Every setting, its default and what it means. The table in docs/settings.md mirrors this.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "AUTH_REQUIRED": (
        True,
        "Require a valid bearer JWT from the EHR on every endpoint. Set false only for development.",
    ),
    "TRUSTED_ISSUERS": ({}, "JSON map of JWT `iss` to its key source (`jwks_url` or `jwks_file`, and `jku`)."),
    "FHIR_SERVER_ALLOWLIST": ([], "JSON list of URL prefixes the service may call back as fhirServer."),
    "REPLAY_CACHE": ("database", "Where seen JWT ids are kept: 'database' (the feedback database, shared by "
                                 "workers and instances) or 'memory' (one process only)."),
    "PUBLIC_BASE_URL": (None, "The service's public URL (behind a proxy), for the JWT `aud` check."),
    "HOOKS_DIR": (None, "Directory of CDS service definitions; default: the packaged hooks/."),
    "FEEDBACK_DATABASE_URL": (
        None,
        "SQLAlchemy URL of the feedback store; default: SQLite file feedback.sqlite3 in the instance folder.",
    ),
    "FHIR_REQUEST_TIMEOUT": (3.0, "Seconds to wait for one FHIR response (connect and each read)."),
    "FHIR_DEADLINE": (5.0, "Seconds all FHIR fetches of one hook call may take together."),
    "FHIR_MAX_PAGES": (10, "Pages of one paginated search followed at most."),
    "FHIR_MAX_RESOURCES": (2000, "Resources of one search kept at most."),
    "FHIR_MAX_RESPONSE_BYTES": (10_000_000, "Bytes of one FHIR response read at most."),
    "FHIR_MAX_CONCURRENCY": (16, "FHIR fetches in flight at once (shared by all calls of a worker)."),
    "FHIR_MAX_CONCURRENCY_PER_CALL": (4, "FHIR fetches in flight at once for one hook call (its fair share of "
                                         "FHIR_MAX_CONCURRENCY, so one slow FHIR server cannot starve calls to "
                                         "others)."),
    "FHIR_MAX_CONCURRENCY_PER_SERVER": (8, "FHIR fetches in flight at once to one FHIR server (per worker); further "
                                           "ones wait in the service, earliest call deadline first, so a server "
                                           "that slows down under load is not swamped."),
    "CORS_ORIGINS": ("*", "Origins allowed to call from a browser: '*' or a comma-separated list."),
    "MAX_CONTENT_LENGTH": (5_000_000, "Largest request body accepted, in bytes (413 beyond)."),
    "MAX_JSON_DEPTH": (64, "Deepest JSON nesting accepted in a request body (400 beyond)."),
    "MAX_PREFETCH_KEYS": (32, "Most prefetch keys accepted in one hook call (413 beyond)."),
    "MAX_RESOURCES": (10_000, "Most resources (prefetch entries and draft orders) in one hook call (413 beyond)."),
    "MAX_FEEDBACK_ITEMS": (1000, "Most feedback items accepted in one feedback request (413 beyond)."),
    "LOG_CARDS": (False, "Log the cards returned (they describe a patient): off unless you need it."),
    "LOG_LEVEL": ("INFO", "Python logging level."),
    "LOG_FORMAT": ("json", "'json' (one JSON object per line, for log collectors) or 'text'."),
    "SUPPRESSION_KEY": (None, "Secret (32+ characters, the same on every instance) keying the hashes of patient and "
                               "draft order that keep a card overridden at order-select from showing again at "
                               "order-sign. Unset: nothing is suppressed; every card shows again."),
    "SUPPRESSION_WINDOW_HOURS": (24.0, "Hours a card overridden at order-select stays hidden at order-sign for the "
                                       "same draft; 0 turns suppression off."),
    "METRICS_ENABLED": (True, "Serve Prometheus metrics at /metrics, without a JWT (scrapers carry none). They hold "
                              "no patient data, but keep /metrics off the public internet. False: 404."),
}


def load_config(mapping: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Merge defaults, ``CDS_``-prefixed environment variables and the mapping, in that order.

    >>> load_config({"LOG_LEVEL": "DEBUG"}, environ={"CDS_FHIR_DEADLINE": "2.5"})["FHIR_DEADLINE"]
    2.5
    """
    environ = os.environ if environ is None else environ
    config = {key: default for key, (default, _) in DEFAULTS.items()}
    for key, default in list(config.items()):
        raw = environ.get(f"CDS_{key}")
        if raw is not None:
            config[key] = _parse_env(key, raw, default)
    config.update(mapping or {})
    _check(config)
    return config


def _parse_env(key: str, raw: str, default: Any) -> Any:
    """Parse an environment string into the type of the setting's default."""
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(f"expected true or false, got {raw!r}")
            return lowered in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, dict | list):
            return json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"CDS_{key}: {exc}") from exc
    return raw


def _check(config: dict) -> None:
    """Refuse settings of the wrong shape at start-up, naming the setting."""
    expectations = {
        "TRUSTED_ISSUERS": dict,
        "FHIR_SERVER_ALLOWLIST": list,
        "AUTH_REQUIRED": bool,
        "LOG_CARDS": bool,
        "METRICS_ENABLED": bool,
    }
    for key, kind in expectations.items():
        if not isinstance(config[key], kind):
            raise ConfigError(f"{key} must be a {kind.__name__}, got {type(config[key]).__name__}")
    if config["REPLAY_CACHE"] not in ("database", "memory"):
        raise ConfigError(f"REPLAY_CACHE must be 'database' or 'memory', got {config['REPLAY_CACHE']!r}")
    if config["LOG_FORMAT"] not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be 'json' or 'text', got {config['LOG_FORMAT']!r}")
    key = config["SUPPRESSION_KEY"]
    if key is not None and (not isinstance(key, str) or len(key) < 32):
        raise ConfigError("SUPPRESSION_KEY must be a secret of at least 32 characters (or unset: no suppression)")
    if not isinstance(config["SUPPRESSION_WINDOW_HOURS"], int | float) or config["SUPPRESSION_WINDOW_HOURS"] < 0:
        raise ConfigError(f"SUPPRESSION_WINDOW_HOURS must be 0 or more, got {config['SUPPRESSION_WINDOW_HOURS']!r}")
    for key in ("MAX_JSON_DEPTH", "MAX_PREFETCH_KEYS", "MAX_RESOURCES", "MAX_FEEDBACK_ITEMS",
                "FHIR_REQUEST_TIMEOUT", "FHIR_DEADLINE", "FHIR_MAX_PAGES", "FHIR_MAX_RESOURCES",
                "FHIR_MAX_RESPONSE_BYTES", "FHIR_MAX_CONCURRENCY", "FHIR_MAX_CONCURRENCY_PER_CALL",
                "FHIR_MAX_CONCURRENCY_PER_SERVER"):
        if not isinstance(config[key], int | float) or config[key] <= 0:
            raise ConfigError(f"{key} must be a positive number, got {config[key]!r}")
