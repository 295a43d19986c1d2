"""CORS for browser clients such as the official CDS Hooks sandbox."""

from __future__ import annotations

import logging

import pytest

from cds_service import create_app

SANDBOX = "https://sandbox.cds-hooks.org"


def test_preflight_allows_authorization_and_content_type(client):
    response = client.options("/cds-services/b12-status", headers={
        "Origin": SANDBOX,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def test_discovery_carries_cors_headers(client):
    response = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)


def test_error_responses_carry_cors_headers_too(client):
    for response in (client.post("/cds-services/nope", json={}, headers={"Origin": SANDBOX}),
                     client.post("/cds-services/b12-status", json={}, headers={"Origin": SANDBOX})):
        assert response.status_code in (400, 404)
        assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)


def test_configured_origins_are_the_only_ones_allowed(app_config):
    app = create_app({**app_config, "CORS_ORIGINS": f"{SANDBOX}, https://ehr.example.org"})
    client = app.test_client()
    allowed = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert allowed.headers["Access-Control-Allow-Origin"] == SANDBOX
    refused = client.get("/cds-services", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_a_call_without_origin_gets_no_cors_headers(client, app_config):
    """An EHR calling from its server sends no Origin and reads no CORS header; a browser always sends Origin."""
    for app_client in (client, create_app({**app_config, "CORS_ORIGINS": SANDBOX}).test_client()):
        for response in (app_client.get("/cds-services"), app_client.post("/cds-services/b12-status", json={})):
            assert not [h for h, _ in response.headers.items() if h.lower().startswith("access-control-")]
            assert response.headers.get("Vary", "") != "Origin"
        with_origin = app_client.get("/cds-services", headers={"Origin": SANDBOX})
        assert with_origin.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)


def _unwrapped(app):
    """The same app with flask-cors's own hook back in place of the one that skips requests without Origin."""
    hooks = app.after_request_funcs[None]
    wrapped = [i for i, hook in enumerate(hooks) if hasattr(hook, "__wrapped__")]
    assert len(wrapped) == 1  # the wrapper found flask-cors's hook
    hooks[wrapped[0]] = hooks[wrapped[0]].__wrapped__
    return app


@pytest.mark.parametrize("origins", ["*", f"{SANDBOX}, https://ehr.example.org"])
def test_skipping_flask_cors_without_origin_sends_the_same_headers(app_config, origins):
    """The hook is skipped only where flask-cors adds nothing: every response's headers as flask-cors's own."""
    ours = create_app({**app_config, "CORS_ORIGINS": origins}).test_client()
    theirs = _unwrapped(create_app({**app_config, "CORS_ORIGINS": origins})).test_client()
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for headers in ({}, {"Origin": ""}, {"Origin": SANDBOX}, {"Origin": "https://evil.example.com"}):
        for method, path, extra in (("get", "/cds-services", {}), ("post", "/cds-services/b12-status", {}),
                                    ("options", "/cds-services/b12-status", preflight), ("get", "/metrics", {}),
                                    ("get", "/nowhere", {})):
            a = getattr(ours, method)(path, headers={**headers, **extra})
            b = getattr(theirs, method)(path, headers={**headers, **extra})
            if path == "/metrics":  # the two apps' durations differ, and so the body's length
                del a.headers["Content-Length"], b.headers["Content-Length"]
            assert (a.status_code, sorted(a.headers.items())) == (b.status_code, sorted(b.headers.items()))


def test_flask_cors_debug_lines_still_come(client, caplog):
    with caplog.at_level(logging.DEBUG, logger="flask_cors"):
        client.get("/cds-services")
    assert any(record.name.startswith("flask_cors") for record in caplog.records)
