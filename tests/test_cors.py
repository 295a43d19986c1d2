"""CORS for browser clients such as the official CDS Hooks sandbox."""

from __future__ import annotations

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
