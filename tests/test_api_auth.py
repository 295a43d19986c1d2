"""Authentication at the HTTP edge: every CDS Hooks endpoint needs the EHR's JWT; probes do not."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import patient_view_request

from cds_service import create_app

PUBLIC = "https://cds.example.org"
ISS = "https://ehr.example.org"
KEY = ec.generate_private_key(ec.SECP384R1())


def token(path: str, *, audience: str | None = None, **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISS, "aud": audience or PUBLIC + path, "exp": now + 300, "iat": now,
               "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(payload, KEY, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})


@pytest.fixture
def secured(app_config, tmp_path):
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1", "alg": "ES384"}
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    app = create_app({**app_config, "AUTH_REQUIRED": True, "PUBLIC_BASE_URL": PUBLIC + "/",
                      "TRUSTED_ISSUERS": {ISS: {"jwks_file": str(jwks_file)}}})
    return app.test_client()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_discovery_needs_a_token(secured):
    response = secured.get("/cds-services")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["issue"][0] == {"severity": "error", "code": "login",
                                               "diagnostics": "authentication failed"}


def test_discovery_with_a_valid_token(secured):
    assert secured.get("/cds-services", headers=bearer(token("/cds-services"))).status_code == 200


def test_the_audience_must_be_this_endpoint(secured):
    other = token("/cds-services/b12-status")  # a token minted for another endpoint
    assert secured.get("/cds-services", headers=bearer(other)).status_code == 401


def test_a_token_is_accepted_once(secured):
    once = token("/cds-services")
    assert secured.get("/cds-services", headers=bearer(once)).status_code == 200
    assert secured.get("/cds-services", headers=bearer(once)).status_code == 401


def test_hook_calls_and_feedback_need_a_token(secured):
    body = patient_view_request(prefetch=None)
    assert secured.post("/cds-services/b12-status", json=body).status_code == 401
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
            "outcomeTimestamp": "2026-09-01T09:00:00Z"}
    feedback = {"feedback": [item]}
    assert secured.post("/cds-services/b12-status/feedback", json=feedback).status_code == 401
    ok = secured.post("/cds-services/b12-status/feedback", json=feedback,
                      headers=bearer(token("/cds-services/b12-status/feedback")))
    assert ok.status_code == 200


def test_probes_and_the_api_description_need_no_token(secured):
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert secured.get(path).status_code == 200, path


def test_cors_preflight_needs_no_token_and_the_401_carries_cors_headers(secured):
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    preflight = secured.options("/cds-services/b12-status", headers={
        **origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    refused = secured.get("/cds-services", headers=origin)
    assert refused.status_code == 401
    assert "Access-Control-Allow-Origin" in refused.headers
