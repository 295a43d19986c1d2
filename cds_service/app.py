"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask_cors import CORS
from requests.adapters import HTTPAdapter

from . import api, engine
from .config import load_config
from .data.fhir_client import FetchLimits
from .data.prefetch import FetchSettings
from .errors import ConfigError
from .feedback_store import FeedbackStore
from .registry import default_hooks_dir, load_registry
from .runtime import Runtime

log = logging.getLogger("cds_service")

#: Keys a test may pass in the mapping to make outputs reproducible; not settings for operators.
INJECTABLE = ("CLOCK", "UUID_FACTORY", "EVALUATORS")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the b12-cds Flask app.

    Settings come from ``config.DEFAULTS``, overridden by ``CDS_*`` environment variables,
    overridden by ``config``. An invalid setting, hooks file or knowledge file raises ConfigError.
    """
    settings = load_config(config)
    app = Flask("cds_service", instance_relative_config=True)
    app.config.from_mapping(settings)
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s %(message)s")
    _check_authentication(settings)

    evaluators = settings.get("EVALUATORS") or engine.EVALUATORS
    hooks_dir = Path(settings["HOOKS_DIR"]) if settings["HOOKS_DIR"] else default_hooks_dir()
    registry = load_registry(hooks_dir, engine.card_text_validators(evaluators))
    store = FeedbackStore.from_url(settings["FEEDBACK_DATABASE_URL"] or _default_database(app))
    optional = {key: settings[key] for key in ("CLOCK", "UUID_FACTORY") if settings.get(key)}
    app.extensions["b12cds"] = Runtime(
        registry=registry,
        store=store,
        fetch_settings=_fetch_settings(settings),
        evaluators=evaluators,
        **{"clock": optional["CLOCK"]} if "CLOCK" in optional else {},
        **{"new_uuid": optional["UUID_FACTORY"]} if "UUID_FACTORY" in optional else {},
    )

    origins = settings["CORS_ORIGINS"]
    CORS(app, origins="*" if origins == "*" else [o.strip() for o in origins.split(",") if o.strip()],
         allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "OPTIONS"], max_age=86400)
    app.register_blueprint(api.bp)
    api.register_error_handlers(app)
    log.info("b12-cds ready: %d services from %s", len(list(registry)), hooks_dir)
    return app


def _check_authentication(settings: Mapping[str, Any]) -> None:
    """Fail closed: never run unauthenticated by accident, and say so loudly when on purpose."""
    if settings["AUTH_REQUIRED"]:
        # JWT verification of EHR callers is not part of this release: rather than pretend, refuse to start.
        raise ConfigError(
            "AUTH_REQUIRED is true, but this release cannot verify EHR JWTs yet. "
            "For development only, set CDS_AUTH_REQUIRED=false to run without authentication."
        )
    log.warning("AUTHENTICATION IS OFF (AUTH_REQUIRED=false): any caller can use this service. "
                "Development only; never expose it to a network.")


def _fetch_settings(settings: Mapping[str, Any]) -> FetchSettings:
    concurrency = int(settings["FHIR_MAX_CONCURRENCY"])
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # never send patient queries through an ambient proxy setting
    return FetchSettings(
        session=session,
        executor=ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fhir-fetch"),
        limits=FetchLimits(
            request_timeout=float(settings["FHIR_REQUEST_TIMEOUT"]),
            max_pages=int(settings["FHIR_MAX_PAGES"]),
            max_resources=int(settings["FHIR_MAX_RESOURCES"]),
            max_bytes=int(settings["FHIR_MAX_RESPONSE_BYTES"]),
        ),
        deadline_seconds=float(settings["FHIR_DEADLINE"]),
    )


def _default_database(app: Flask) -> str:
    return f"sqlite:///{Path(app.instance_path) / 'feedback.sqlite3'}"
