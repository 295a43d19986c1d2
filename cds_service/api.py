"""HTTP routes: discovery, hook calls, feedback, health, metrics. Each handler reads like a table of contents."""

from __future__ import annotations

import logging
import time
from importlib import resources
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from . import engine, logs
from .data.prefetch import resolve
from .errors import CDSError, PayloadTooLarge, ServiceUnavailable, Unauthorized, operation_outcome
from .protocol.feedback import parse_feedback
from .protocol.request import OrderSignContext, ParsedCall, decode_json_body, parse_hook_call
from .protocol.response import Card, CDSResponse, to_json
from .registry import ServiceDefinition
from .runtime import Runtime

log = logging.getLogger(__name__)
bp = Blueprint("cds", __name__)
OPENAPI = resources.files("cds_service").joinpath("openapi.json").read_bytes()


def runtime() -> Runtime:
    """Return this app's runtime objects (registry, store, fetch settings, clock)."""
    return current_app.extensions["b12cds"]


#: Endpoints that answer without a JWT: load-balancer probes, Prometheus scrapers and the API description carry none.
OPEN_ENDPOINTS = frozenset({"cds.healthz", "cds.readyz", "cds.openapi", "cds.metrics"})


#: Marks the request a new worker sends through its own app before it serves (``warmup.warm_worker``): not counted.
WARM_UP_REQUEST = "b12cds.warm_up"

LOGGED_ENDPOINTS = {"cds.discovery": "discovery", "cds.call_service": "hook-call", "cds.feedback": "feedback"}


@bp.before_request
def start_timer() -> None:
    """Note when the call began, for its log line."""
    g.started = time.perf_counter()


@bp.after_app_request
def log_and_count(response: Response) -> Response:
    """Write one structured line per CDS Hooks call (no patient data, no tokens) and count hook calls; count every
    HTTP request, unknown URLs too, by route name (never the path), method and status, but not the one a new worker
    makes to itself before it serves (``WARM_UP_REQUEST``).

    Why one hook, reading the request and ``g`` through one lookup each: Flask wraps and calls every hook, and each
    ``request.x`` goes through a context-variable proxy; as two hooks this was about 2 % of a 950 µs order-sign call
    (py-spy, issue #12). With the CORS change (``app._cors_only_with_origin``) a call went from 4.29 to 4.11 M
    instructions (callgrind). Logged endpoints are all this blueprint's, so an app-wide hook sees the same calls.
    """
    req, call = request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]
    metrics = runtime().metrics
    endpoint = LOGGED_ENDPOINTS.get(req.endpoint or "")
    if endpoint and req.method != "OPTIONS":
        elapsed = time.perf_counter() - call.get("started", time.perf_counter())
        service_id = (req.view_args or {}).get("service_id")
        cards = call.get("cards")
        logs.log_call(endpoint=endpoint, service_id=service_id,
                      status=response.status_code, latency_ms=elapsed * 1000,
                      hook_instance=call.get("hook_instance"), cards=cards, feedback=call.get("feedback"),
                      log_cards=current_app.config["LOG_CARDS"])
        if endpoint == "hook-call":
            metrics.hook_call(service_id, response.status_code, elapsed, cards)
    if not req.environ.get(WARM_UP_REQUEST):
        metrics.http_request(req.endpoint, req.method, response.status_code)
    return response


@bp.before_request
def authenticate() -> None:
    """Verify the EHR's bearer JWT (CDS Hooks 2.0: discovery, calls and feedback alike)."""
    rt = runtime()
    if rt.authenticator is None or request.method == "OPTIONS" or request.endpoint in OPEN_ENDPOINTS:
        return  # a CORS preflight carries no Authorization header by design
    g.claims = rt.authenticator.verify(request.headers.get("Authorization"), rt.public_base_url + request.path)


@bp.get("/cds-services", strict_slashes=False)
def discovery() -> Any:
    """List the CDS services (CDS Hooks 2.0 discovery)."""
    return jsonify(runtime().registry.discovery())


@bp.post("/cds-services/<service_id>", strict_slashes=False)
def call_service(service_id: str) -> Any:
    """Answer a hook call with cards."""
    rt = runtime()
    service = rt.registry.get(service_id)
    call = parse_hook_call(_json_body(), service.hook, rt.limits)
    g.hook_instance = call_instance = str(call.request.hookInstance)
    data = resolve(service, call, rt.fetch_settings)
    cards = engine.evaluate(service, call, data, today=rt.today(), new_uuid=rt.new_uuid)
    cards, withheld = _screen_repeats(rt, service, call, cards)
    body = to_json(CDSResponse(cards=cards))
    g.cards = body["cards"]
    response = _json_response(body)
    if rt.shown is not None and (body["cards"] or withheld):
        # Written once the response has gone to the EHR: the database write never delays the cards.
        shown, hidden, when = body["cards"], to_json(CDSResponse(cards=withheld))["cards"], rt.clock()
        response.call_on_close(lambda: rt.shown.record(service.id, call_instance, shown, when, suppressed=hidden))
    return response


def _json_response(body: dict[str, Any]) -> Response:
    """The response to a hook call, serialised by orjson (pyproject.toml says why): UTF-8, keys in model order."""
    return current_app.response_class(orjson.dumps(body), mimetype="application/json")


def _screen_repeats(rt: Runtime, service: ServiceDefinition, call: ParsedCall,
                    cards: list[Card]) -> tuple[list[Card], list[Card]]:
    """Withhold at order-sign the cards overridden at order-select for the same drafts (``repeats``)."""
    context = call.context
    if rt.repeats is None or not isinstance(context, OrderSignContext):
        return cards, []
    shown, withheld = rt.repeats.screen(service.hook, context.patientId, context.draftOrders.resources(), cards,
                                        rt.clock())
    if withheld:
        rt.metrics.suppressed(service.id, [c.source.topic.code if c.source.topic else "" for c in withheld])
    return shown, withheld


@bp.post("/cds-services/<service_id>/feedback", strict_slashes=False)
def feedback(service_id: str) -> Any:
    """Store the clinician's feedback on cards (CDS Hooks 2.0 feedback)."""
    rt = runtime()
    service = rt.registry.get(service_id)
    items = parse_feedback(_json_body(), current_app.config["MAX_FEEDBACK_ITEMS"]).feedback
    stored, duplicates = rt.store.add(service.id, list(items))
    g.feedback = {"feedbackStored": stored, "feedbackDuplicates": duplicates}
    rt.metrics.feedback(service.id, [item.outcome for item in items], stored, duplicates)
    if rt.repeats is not None:
        latest = {str(item.card): item.outcome for item in sorted(items, key=lambda item: item.outcomeTimestamp)}
        rt.repeats.feedback(latest, rt.clock())
    return jsonify({"stored": stored, "duplicates": duplicates})


@bp.get("/healthz")
def healthz() -> Any:
    """Liveness: the process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """Readiness: the feedback store answers."""
    if not runtime().store.ping():
        raise ServiceUnavailable("the feedback store does not answer")
    return jsonify({"status": "ready"})


@bp.get("/metrics")
def metrics() -> Any:
    """Serve the Prometheus metrics of every worker (no patient data; not for the public internet)."""
    if not current_app.config["METRICS_ENABLED"]:
        raise NotFound()
    try:
        body, content_type = runtime().metrics.exposition()
    except OSError as exc:  # the workers' metrics directory is gone or unreadable
        raise ServiceUnavailable("metrics are unavailable: the metrics directory cannot be read") from exc
    return current_app.response_class(body, content_type=content_type)


@bp.get("/gallery", strict_slashes=False)
def gallery() -> Any:
    """The card gallery for clinical sign-off (every fixture scenario's cards); behind the JWT when auth is on."""
    from .gallery_html import CONTENT_SECURITY_POLICY, gallery_page

    response = current_app.response_class(gallery_page(), mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi() -> Any:
    """Serve the OpenAPI 3.1 description of this API."""
    return current_app.response_class(OPENAPI, mimetype="application/json")


def _json_body() -> Any:
    return decode_json_body(_body_bytes(), request.headers.get("Content-Type"), runtime().limits)


def _body_bytes() -> bytes:
    """The request body, or 413 when it is over MAX_CONTENT_LENGTH however it was sent.

    With a Content-Length over the limit Werkzeug refuses at once; a chunked body (no Content-Length) it reads
    up to the limit and silently stops there, so one more byte past the limit means the body was too large.
    """
    raw = request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    chunked = limit is not None and request.content_length is None and len(raw) >= limit
    if chunked and request.environ["wsgi.input"].read(1):
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return raw


def register_error_handlers(app: Flask) -> None:
    """Turn every error into an OperationOutcome; a bug becomes a 500 without details."""

    @app.errorhandler(CDSError)
    def _cds_error(error: CDSError) -> Any:
        response = jsonify(error.to_operation_outcome())
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response, error.status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(_: RequestEntityTooLarge) -> Any:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return _cds_error(PayloadTooLarge(f"request body is larger than {limit} bytes"))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        code = {404: "not-found", 405: "not-supported"}.get(error.code or 500, "exception")
        body = operation_outcome(error.description or error.name, code=code)
        return jsonify(body), error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(operation_outcome("internal error", code="exception")), 500

