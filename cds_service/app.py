"""The application factory."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from flask import Flask, Response, request
from flask_cors import CORS

from . import api, engine, logs
from .cards.resources import SuggestedResourceError, prepare_suggestions
from .config import load_config
from .data.allowlist import ServerPolicy
from .data.deadline import GuardedAdapter
from .data.fhir_client import FetchLimits
from .data.prefetch import FetchSettings
from .data.slots import FetchPool
from .errors import ConfigError
from .feedback_store import FeedbackStore
from .knowledge import KnowledgeError, load_knowledge
from .knowledge.clinical import ClinicalKnowledgeError
from .metrics import Metrics
from .protocol.request import RequestLimits
from .registry import default_hooks_dir, load_registry
from .repeats import RepeatGuard
from .runtime import Runtime
from .security import Authenticator, InMemoryReplayCache
from .security.sql_replay import SqlReplayCache
from .shown_cards import ShownCards

log = logging.getLogger("cds_service")

#: Keys a test may pass in the mapping to make outputs reproducible; not settings for operators.
INJECTABLE = ("CLOCK", "UUID_FACTORY")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the b12-cds Flask app.

    Settings come from ``config.DEFAULTS``, overridden by ``CDS_*`` environment variables,
    overridden by ``config``. An invalid setting, hooks file or knowledge file raises ConfigError.
    """
    settings = load_config(config)
    app = Flask("cds_service", instance_relative_config=True)
    app.config.from_mapping(settings)
    logs.configure(settings["LOG_LEVEL"], settings["LOG_FORMAT"])

    _load_knowledge()
    hooks_dir = Path(settings["HOOKS_DIR"]) if settings["HOOKS_DIR"] else default_hooks_dir()
    registry = load_registry(hooks_dir, engine.card_text_validators())
    store = FeedbackStore.from_url(settings["FEEDBACK_DATABASE_URL"] or _default_database(app))
    authenticator = _authenticator(settings, store)
    metrics = Metrics(registry)
    optional = {key: settings[key] for key in ("CLOCK", "UUID_FACTORY") if settings.get(key)}
    app.extensions["b12cds"] = Runtime(
        registry=registry,
        store=store,
        fetch_settings=_fetch_settings(settings, metrics),
        metrics=metrics,
        shown=ShownCards(store.engine, background=True),
        repeats=_repeat_guard(settings, store),
        authenticator=authenticator,
        public_base_url=(settings["PUBLIC_BASE_URL"] or "").rstrip("/"),
        limits=RequestLimits(max_depth=int(settings["MAX_JSON_DEPTH"]),
                             max_prefetch_keys=int(settings["MAX_PREFETCH_KEYS"]),
                             max_resources=int(settings["MAX_RESOURCES"])),
        **{"clock": optional["CLOCK"]} if "CLOCK" in optional else {},
        **{"new_uuid": optional["UUID_FACTORY"]} if "UUID_FACTORY" in optional else {},
    )

    origins = settings["CORS_ORIGINS"]
    # Every path but /metrics: browsers (the sandbox, EHR web clients) call the API; no web page needs the
    # service's operational counts, so a page open on the internal network may not read them.
    CORS(app, resources={r"^/(?!metrics(/|$)).*": {}},
         origins="*" if origins == "*" else [o.strip() for o in origins.split(",") if o.strip()],
         allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "OPTIONS"], max_age=86400,
         # A browser sends Origin with every cross-origin request; an EHR calling from its server sends none and
         # reads no CORS header. Without it flask-cors still built and logged a full header set per call
         # (a fiftieth of a hook call's CPU; docs/performance.md "Fifth round").
         always_send=False)
    _cors_only_with_origin(app)
    app.register_blueprint(api.bp)
    api.register_error_handlers(app)
    log.info("b12-cds ready: %d services from %s", len(list(registry)), hooks_dir)
    return app


def _cors_only_with_origin(app: Flask) -> None:
    """Let a response to a request without Origin skip flask-cors's after-request hook, which adds nothing to it.

    Why: with ``always_send=False`` flask-cors sets no header when there is no Origin (an EHR calling from its
    server), yet its hook still unquoted the path, matched it against the resource pattern and built an empty
    header set: 19 µs of a 950 µs order-sign call (py-spy, issue #12; callgrind in ``api.log_and_count``). With
    its loggers at DEBUG it runs as before, for its debug lines. ``tests/test_cors.py`` compares the headers with
    and without.
    """
    hooks = app.after_request_funcs.get(None, [])
    for index, hook in enumerate(hooks):
        if hook.__module__ == "flask_cors.extension" and hook.__name__ == "cors_after_request":
            hooks[index] = _when_origin_sent(hook)


_CORS_LOGGERS = (logging.getLogger("flask_cors.extension"), logging.getLogger("flask_cors.core"))


def _when_origin_sent(cors_hook: Callable[[Response], Response]) -> Callable[[Response], Response]:
    """Wrap flask-cors's hook to run only when the request has an Origin header (or its debug lines are wanted)."""
    extension_log, core_log = _CORS_LOGGERS

    @functools.wraps(cors_hook)
    def cors_after_request(response: Response) -> Response:
        if ("HTTP_ORIGIN" in request.environ or extension_log.isEnabledFor(logging.DEBUG)
                or core_log.isEnabledFor(logging.DEBUG)):
            return cors_hook(response)
        return response

    return cors_after_request


def _authenticator(settings: Mapping[str, Any], store: FeedbackStore) -> Authenticator | None:
    """Build the JWT check, or say loudly that there is none (development only)."""
    if not settings["AUTH_REQUIRED"]:
        log.warning("AUTHENTICATION IS OFF (AUTH_REQUIRED=false): any caller can use this service. "
                    "Development only; never expose it to a network.")
        return None
    if not settings["PUBLIC_BASE_URL"]:
        # The JWT audience is the endpoint's public URL; it must never be taken from the Host header.
        raise ConfigError("AUTH_REQUIRED is true: set PUBLIC_BASE_URL to this service's public URL "
                          "(the JWT 'aud' is checked against it); for development only, set CDS_AUTH_REQUIRED=false")
    if not str(settings["PUBLIC_BASE_URL"]).startswith("https://"):
        raise ConfigError("PUBLIC_BASE_URL must be an https:// URL when AUTH_REQUIRED is true")
    if not settings["TRUSTED_ISSUERS"]:
        raise ConfigError("AUTH_REQUIRED is true: set TRUSTED_ISSUERS (see docs/security.md); "
                          "for development only, set CDS_AUTH_REQUIRED=false")
    # The jti cache lives in the service's database so that every gunicorn worker and every instance
    # behind a load balancer refuses a replay; "memory" protects one process only (tests, one worker).
    replay = InMemoryReplayCache() if settings["REPLAY_CACHE"] == "memory" else SqlReplayCache(store.engine)
    return Authenticator(settings["TRUSTED_ISSUERS"], replay_cache=replay)


def _repeat_guard(settings: Mapping[str, Any], store: FeedbackStore) -> RepeatGuard | None:
    """Suppression of repeated cards needs a secret key; without one every card shows again (safe)."""
    hours = float(settings["SUPPRESSION_WINDOW_HOURS"])
    if not settings["SUPPRESSION_KEY"] or hours == 0:
        log.info("repeat suppression is off (%s): a card overridden at order-select shows again at order-sign",
                 "no SUPPRESSION_KEY" if hours else "SUPPRESSION_WINDOW_HOURS=0")
        return None
    return RepeatGuard(store.engine, str(settings["SUPPRESSION_KEY"]).encode(), timedelta(hours=hours))


def _load_knowledge() -> None:
    """Load and validate every knowledge file, and the suggested resources made from it, now: so a bad one
    stops start-up (not the first call)."""
    try:
        load_knowledge()
        prepare_suggestions(load_knowledge())
    except (KnowledgeError, ClinicalKnowledgeError, SuggestedResourceError) as exc:
        raise ConfigError(f"knowledge: {exc}") from exc


def _fetch_settings(settings: Mapping[str, Any], metrics: Metrics) -> FetchSettings:
    concurrency = int(settings["FHIR_MAX_CONCURRENCY"])
    session = requests.Session()
    # Its connections are shut at the deadline of the call using them (data.deadline).
    adapter = GuardedAdapter(pool_connections=concurrency, pool_maxsize=concurrency, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # never send patient queries through an ambient proxy setting
    return FetchSettings(
        session=session,
        executor=FetchPool(max_workers=concurrency, per_server=int(settings["FHIR_MAX_CONCURRENCY_PER_SERVER"])),
        limits=FetchLimits(
            request_timeout=float(settings["FHIR_REQUEST_TIMEOUT"]),
            max_pages=int(settings["FHIR_MAX_PAGES"]),
            max_resources=int(settings["FHIR_MAX_RESOURCES"]),
            max_bytes=int(settings["FHIR_MAX_RESPONSE_BYTES"]),
        ),
        deadline_seconds=float(settings["FHIR_DEADLINE"]),
        servers=ServerPolicy.from_settings(settings["FHIR_SERVER_ALLOWLIST"],
                                           development=not settings["AUTH_REQUIRED"]),
        observer=metrics,
        slots_per_call=min(concurrency, int(settings["FHIR_MAX_CONCURRENCY_PER_CALL"])),
    )


def _default_database(app: Flask) -> str:
    return f"sqlite:///{Path(app.instance_path) / 'feedback.sqlite3'}"


def default_database_url() -> str:
    """The feedback database the service uses when FEEDBACK_DATABASE_URL is not set (for the commands)."""
    return _default_database(Flask("cds_service", instance_relative_config=True))
