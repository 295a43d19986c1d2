"""The EHR's bearer JWT: what passes, what gets the one generic 401, and what is never logged."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.errors import ConfigError, Unauthorized
from cds_service.security import BUILTIN_JWKS, FAILURE_MESSAGE, Authenticator, Claims, InMemoryReplayCache

ISS = "https://ehr.example.org"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
AUD = "https://cds.example.org/cds-services/b12-deficiency"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
NOW = 1_790_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def p256_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(private_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@pytest.fixture
def jwks(ec_key, rsa_key, p256_key) -> dict[str, Any]:
    """The EHR's published keys; a test may rotate them by editing the list."""
    return {"keys": [public_jwk(ec_key, "ec-1", "ES384"), public_jwk(rsa_key, "rsa-1", "RS384"),
                     public_jwk(p256_key, "ec256-1", "ES256")]}


@pytest.fixture
def jwks_server(jwks) -> Iterator[responses.RequestsMock]:
    """Serve ``jwks`` at JWKS_URL (as it is when called) and record the calls."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, JWKS_URL, callback=lambda _: (200, {}, json.dumps(jwks)))
        yield mock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(jwks_server, clock) -> Authenticator:
    return Authenticator({ISS: {"jwks_url": JWKS_URL}}, clock=clock)


@pytest.fixture
def mint(ec_key, clock) -> Callable[..., str]:
    """Sign a token (ES384, kid ec-1 by default); ``claims``/``headers`` entries set to None are dropped."""

    def _mint(key: Any = None, alg: str = "ES384", kid: str | None = "ec-1", **claims: Any) -> str:
        headers = {"typ": "JWT", "kid": kid, **claims.pop("headers", {})}
        payload = {"iss": ISS, "aud": AUD, "iat": int(clock.now), "exp": int(clock.now) + 300,
                   "jti": str(uuid.uuid4()), **claims}
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, key or ec_key, algorithm=alg,
                          headers={k: v for k, v in headers.items() if v is not None})

    return _mint


def bearer(token: str) -> str:
    return f"Bearer {token}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_token(secret: bytes, claims: dict[str, Any]) -> str:
    """HS256 by hand: PyJWT itself refuses a PEM key as an HMAC secret."""
    signing_input = f"{b64url(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'ec-1'}).encode())}." \
                    f"{b64url(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def assert_refused(auth: Authenticator, header: str | None, audience: str = AUD) -> None:
    with pytest.raises(Unauthorized) as refused:
        auth.verify(header, audience)
    assert refused.value.message == FAILURE_MESSAGE
    assert refused.value.status == 401


# --- what passes -----------------------------------------------------------------------------------------


def test_a_valid_es384_token_passes_and_gives_its_claims(auth, mint, clock):
    token = mint(sub="Practitioner/1", tenant="hospital-a", jti="jti-1")
    assert auth.verify(bearer(token), AUD) == Claims(
        iss=ISS, sub="Practitioner/1", jti="jti-1", tenant="hospital-a", exp=clock.now + 300)


def test_a_valid_rs384_token_passes(auth, mint, rsa_key):
    assert auth.verify(bearer(mint(rsa_key, alg="RS384", kid="rsa-1")), AUD).iss == ISS


@pytest.mark.parametrize("aud", [["https://other.example.org", AUD], AUD + "/"])
def test_aud_in_an_array_or_with_a_trailing_slash_passes(auth, mint, aud):
    assert auth.verify(bearer(mint(aud=aud)), AUD).iss == ISS


def test_a_jku_header_naming_the_configured_jwks_url_passes(auth, mint):
    assert auth.verify(bearer(mint(headers={"jku": JWKS_URL})), AUD).iss == ISS


def test_an_exp_just_passed_but_within_the_leeway_passes(auth, mint, clock):
    assert auth.verify(bearer(mint(iat=int(clock.now) - 300, exp=int(clock.now) - 10)), AUD).iss == ISS


# --- what is refused, always with the same message ---------------------------------------------------------


REFUSALS: dict[str, Callable[[Callable[..., str], Any, Clock], str | None]] = {  # case: header builder
    "no header": lambda mint, keys, clock: None,
    "not Bearer": lambda mint, keys, clock: f"Basic {mint()}",
    "Bearer without a token": lambda mint, keys, clock: "Bearer ",
    "garbage token": lambda mint, keys, clock: bearer("not.a.jwt"),
    "alg none": lambda mint, keys, clock: bearer(jwt.encode(
        {"iss": ISS, "aud": AUD, "iat": int(clock.now), "exp": int(clock.now) + 300, "jti": "j"}, None,
        algorithm="none", headers={"kid": "ec-1"})),
    "HS256 signed with the public key": lambda mint, keys, clock: bearer(hmac_token(
        keys["ec"].public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo),
        {"iss": ISS, "aud": AUD, "iat": int(clock.now), "exp": int(clock.now) + 300, "jti": "j"})),
    "ES256 when only ES384 and RS384 are allowed": lambda mint, keys, clock: bearer(
        mint(keys["p256"], alg="ES256", kid="ec256-1")),
    "signed by another key": lambda mint, keys, clock: bearer(mint(ec.generate_private_key(ec.SECP384R1()))),
    "tampered payload": lambda mint, keys, clock: bearer(tampered(mint())),
    "unknown iss": lambda mint, keys, clock: bearer(mint(iss="https://evil.example.org")),
    "untrusted jku": lambda mint, keys, clock: bearer(mint(headers={"jku": "https://evil.example.org/jwks"})),
    "typ not JWT": lambda mint, keys, clock: bearer(mint(headers={"typ": "at+jwt"})),
    "no kid": lambda mint, keys, clock: bearer(mint(kid=None)),
    "wrong aud": lambda mint, keys, clock: bearer(mint(aud="https://cds.example.org/cds-services/other")),
    "expired beyond the leeway": lambda mint, keys, clock: bearer(
        mint(iat=int(clock.now) - 331, exp=int(clock.now) - 31)),
    "iat in the future": lambda mint, keys, clock: bearer(mint(iat=int(clock.now) + 120)),
    "nbf in the future": lambda mint, keys, clock: bearer(mint(nbf=int(clock.now) + 120)),
    "no exp": lambda mint, keys, clock: bearer(mint(exp=None)),
    "no iat": lambda mint, keys, clock: bearer(mint(iat=None)),
    "no jti": lambda mint, keys, clock: bearer(mint(jti=None)),
    "lifetime over an hour": lambda mint, keys, clock: bearer(mint(exp=int(clock.now) + 3700)),
}

#: The reason each case is refused with: in the server log only.
REASONS = {
    "no header": "no Authorization header",
    "not Bearer": "not a Bearer token",
    "Bearer without a token": "malformed bearer token",
    "garbage token": "not a JWT",
    "alg none": "alg 'none' not allowed",
    "HS256 signed with the public key": "alg 'HS256' not allowed",
    "ES256 when only ES384 and RS384 are allowed": "alg 'ES256' not allowed",
    "signed by another key": "InvalidSignatureError",
    "tampered payload": "InvalidSignatureError",
    "unknown iss": "not a trusted issuer",
    "untrusted jku": "jku is not on the issuer's list",
    "typ not JWT": "typ is not JWT",
    "no kid": "no kid",
    "wrong aud": "InvalidAudienceError",
    "expired beyond the leeway": "token expired",
    "iat in the future": "not yet valid",
    "nbf in the future": "not yet valid",
    "no exp": "MissingRequiredClaimError",
    "no iat": "MissingRequiredClaimError",
    "no jti": "MissingRequiredClaimError",
    "lifetime over an hour": "lifetime over",
}


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "Practitioner/admin"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_every_failure_is_the_same_401_and_the_reason_is_logged(auth, mint, ec_key, p256_key, clock, case,
                                                                 caplog):
    caplog.set_level(logging.INFO, logger="cds_service.security")
    assert_refused(auth, REFUSALS[case](mint, {"ec": ec_key, "p256": p256_key}, clock))
    assert REASONS[case] in caplog.text


def test_an_rsa_key_under_2048_bits_is_refused(clock, mint, tmp_path):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    file = tmp_path / "jwks.json"
    file.write_text(json.dumps({"keys": [public_jwk(weak, "weak", "RS384")]}))
    auth = Authenticator({ISS: {"jwks_file": str(file)}}, clock=clock)
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = mint(weak, alg="RS384", kid="weak")
    assert_refused(auth, bearer(token))


def test_a_replayed_jti_is_refused_the_second_time(auth, mint):
    token = mint()
    auth.verify(bearer(token), AUD)
    assert_refused(auth, bearer(token))


def test_the_same_jti_from_two_issuers_is_not_a_replay(jwks_server, mint, clock, ec_key, tmp_path):
    other = "https://other-ehr.example.org"
    file = tmp_path / "jwks.json"
    file.write_text(json.dumps({"keys": [public_jwk(ec_key, "ec-1", "ES384")]}))
    auth = Authenticator({ISS: {"jwks_url": JWKS_URL}, other: {"jwks_file": str(file)}}, clock=clock)
    auth.verify(bearer(mint(jti="shared")), AUD)
    assert auth.verify(bearer(mint(jti="shared", iss=other)), AUD).iss == other


def test_a_tenant_off_the_issuers_list_is_refused(jwks_server, mint, clock):
    auth = Authenticator({ISS: {"jwks_url": JWKS_URL, "tenants": ["hospital-a"]}}, clock=clock)
    assert auth.verify(bearer(mint(tenant="hospital-a")), AUD).tenant == "hospital-a"
    assert_refused(auth, bearer(mint(tenant="hospital-b")))
    assert_refused(auth, bearer(mint()))


# --- keys: rotation, failures, files -------------------------------------------------------------------


def test_an_unknown_kid_refetches_the_jwks_once_then_the_rotated_key_works(auth, mint, jwks, jwks_server,
                                                                            clock):
    auth.verify(bearer(mint()), AUD)
    assert len(jwks_server.calls) == 1
    rotated = ec.generate_private_key(ec.SECP384R1())
    jwks["keys"] = [public_jwk(rotated, "ec-2", "ES384")]

    assert auth.verify(bearer(mint(rotated, kid="ec-2")), AUD).iss == ISS
    assert len(jwks_server.calls) == 2

    assert_refused(auth, bearer(mint(kid="no-such-kid")))  # rate-limited: no third fetch within 60 s
    assert len(jwks_server.calls) == 2
    clock.now += 61
    assert_refused(auth, bearer(mint(kid="still-no-such-kid")))
    assert len(jwks_server.calls) == 3


def test_the_jwks_is_cached_between_calls(auth, mint, jwks_server):
    for _ in range(3):
        auth.verify(bearer(mint()), AUD)
    assert len(jwks_server.calls) == 1


@pytest.mark.parametrize("failure", [
    {"body": requests.exceptions.ConnectTimeout()},
    {"body": requests.exceptions.ConnectionError()},
    {"status": 500, "json": {"error": "down"}},
    {"status": 302, "headers": {"Location": "https://evil.example.org/jwks.json"}},
    {"body": "not json"},
    {"json": {"keys": "not a list"}},
    {"body": b"x" * 1_000_001},
], ids=["timeout", "connection refused", "HTTP 500", "redirect not followed", "not JSON", "not a JWK Set",
        "over 1 MB"])
def test_a_jwks_url_that_fails_gives_401_not_an_exception(mint, clock, failure):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, **failure)
        evil = mock.get("https://evil.example.org/jwks.json", json={"keys": []})
        auth = Authenticator({ISS: {"jwks_url": JWKS_URL}}, clock=clock)
        assert_refused(auth, bearer(mint()))
        assert evil.call_count == 0


def test_a_token_shaped_like_the_sandboxs_passes_against_a_jwks_file(tmp_path, mint, ec_key, clock):
    file = tmp_path / "sandbox-jwks.json"
    file.write_text(json.dumps({"keys": [public_jwk(ec_key, "44823f3d", "ES384")]}))
    auth = Authenticator({SANDBOX_ISS: {"jwks_file": str(file), "jku": SANDBOX_JKU}}, clock=clock)
    token = mint(iss=SANDBOX_ISS, kid="44823f3d", headers={"jku": SANDBOX_JKU})
    assert auth.verify(bearer(token), AUD).iss == SANDBOX_ISS


def test_the_bundled_sandbox_jwks_holds_public_es384_keys_with_kids():
    document = json.loads(BUILTIN_JWKS["builtin:cds-hooks-sandbox"].read_text())
    assert document["keys"]
    for key in document["keys"]:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-384", "ES384", "sig")
        assert key["kid"] and "d" not in key
        assert jwt.PyJWK(key).algorithm_name == "ES384"
    Authenticator({SANDBOX_ISS: {"jwks_file": "builtin:cds-hooks-sandbox", "jku": SANDBOX_JKU}})


# --- configuration refused at start-up ---------------------------------------------------------------------


@pytest.mark.parametrize(("issuers", "options", "named"), [
    ({ISS: {"jwks_url": JWKS_URL}}, {"algorithms": ["ES384", "HS256"]}, "algorithms"),
    ({ISS: {"jwks_url": JWKS_URL}}, {"algorithms": ["none"]}, "algorithms"),
    ({ISS: {"jwks_url": JWKS_URL, "algorithms": ["HS256"]}}, {}, f"TRUSTED_ISSUERS['{ISS}'].algorithms"),
    ({ISS: {"jwks_url": JWKS_URL, "jwks_file": "builtin:cds-hooks-sandbox"}}, {}, f"['{ISS}']"),
    ({ISS: {}}, {}, f"TRUSTED_ISSUERS['{ISS}']"),
    ({ISS: {"jwks_url": "http://ehr.example.org/jwks"}}, {}, f"TRUSTED_ISSUERS['{ISS}'].jwks_url"),
    ({ISS: {"jwks_url": JWKS_URL, "jku": "http://x"}}, {}, f"TRUSTED_ISSUERS['{ISS}'].jku"),
    ({ISS: {"jwks_file": "/no/such/jwks.json"}}, {}, f"TRUSTED_ISSUERS['{ISS}'].jwks_file"),
    ({ISS: {"jwks_url": JWKS_URL, "jwks_uri": JWKS_URL}}, {}, "jwks_uri"),
    ({}, {}, "TRUSTED_ISSUERS"),
    ({ISS: {"jwks_url": JWKS_URL}}, {"leeway_seconds": 3600}, "leeway_seconds"),
], ids=["HS256", "none", "HS256 for one issuer", "both key sources", "no key source", "http JWKS URL",
        "http jku", "missing file", "misspelt field", "no issuer", "leeway of an hour"])
def test_bad_configuration_is_refused_naming_the_issuer_and_field(issuers, options, named):
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        Authenticator(issuers, **options)


def test_a_jwks_file_holding_a_private_key_is_refused(tmp_path, ec_key):
    private = {**jwt.algorithms.ECAlgorithm.to_jwk(ec_key, as_dict=True), "kid": "k", "alg": "ES384"}
    file = tmp_path / "keypair.json"
    file.write_text(json.dumps({"keys": [private]}))
    with pytest.raises(ConfigError, match="private"):
        Authenticator({ISS: {"jwks_file": str(file)}})


# --- logging, threads, the replay cache ----------------------------------------------------------------


def test_no_token_or_claim_value_is_ever_logged(auth, mint, caplog, clock, rsa_key):
    caplog.set_level(logging.DEBUG)
    secret_jti = "jti-never-logged-7f3a"
    tokens = [mint(jti=secret_jti, sub="Practitioner/never-logged"), mint(aud="https://aud-never-logged"),
              mint(kid="kid-unknown"), mint(exp=int(clock.now) - 600, iat=int(clock.now) - 700),
              mint(rsa_key, alg="RS384", kid="rsa-1")]
    for token in [*tokens, tokens[0]]:
        with contextlib.suppress(Unauthorized):
            auth.verify(bearer(token), AUD)
    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in caplog.records)
    assert "rejected" in logged
    for token in tokens:
        assert token not in logged
        assert all(part not in logged for part in token.split("."))
    for value in (secret_jti, "never-logged", AUD):
        assert value not in logged


def test_eight_threads_verify_eight_tokens_at_once_then_all_replays_fail(auth, mint, jwks_server):
    tokens = [mint() for _ in range(8)]
    start = threading.Barrier(8)
    results: dict[int, Any] = {}

    def verify(index: int) -> None:
        start.wait()
        try:
            results[index] = auth.verify(bearer(tokens[index]), AUD)
        except Unauthorized as exc:
            results[index] = exc

    threads = [threading.Thread(target=verify, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(result, Claims) for result in results.values()) and len(results) == 8
    assert len(jwks_server.calls) == 1  # the others waited for the one fetch
    for token in tokens:
        assert_refused(auth, bearer(token))


def test_the_replay_cache_forgets_a_jti_once_its_token_expired(clock):
    cache = InMemoryReplayCache(clock)
    assert cache.seen("a", ISS, clock.now + 10) is False
    assert cache.seen("a", ISS, clock.now + 10) is True
    assert cache.seen("b", ISS, clock.now + 100) is False
    clock.now += 11
    assert cache.seen("c", ISS, clock.now + 100) is False
    assert len(cache) == 2
    assert cache.seen("a", ISS, clock.now + 10) is False


def test_a_token_signed_as_the_official_sandbox_signs_verifies_against_the_bundled_jwks():
    from helpers import ROOT, load_json

    sample = load_json(ROOT / "tests" / "data" / "sandbox-token.json")
    authenticator = Authenticator(
        {SANDBOX_ISS: {"jwks_file": "builtin:cds-hooks-sandbox", "jku": SANDBOX_JKU}},
        clock=lambda: sample["issuedAt"] + 10.0)
    claims = authenticator.verify(f"Bearer {sample['token']}", sample["audience"])
    assert claims.iss == SANDBOX_ISS
    with pytest.raises(Unauthorized):  # and, like any token, only once
        authenticator.verify(f"Bearer {sample['token']}", sample["audience"])
