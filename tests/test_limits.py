"""Limits on what one request can make the service parse: body size, nesting, keys, resources."""

from __future__ import annotations

import io
import json

from helpers import patient_view_request, searchset

from cds_service import create_app


def post_raw(client, body: str):
    return client.post("/cds-services/b12-status", data=body, content_type="application/json")


def test_deeply_nested_json_is_400(client):
    deep = '{"a":' * 200 + "1" + "}" * 200
    body = json.dumps(patient_view_request())[:-1] + f', "extension": {deep}}}'
    response = post_raw(client, body)
    assert response.status_code == 400
    assert "nests deeper than 64 levels" in response.get_json()["issue"][0]["diagnostics"]


def test_json_deeper_than_the_parser_can_go_is_400_not_500(client):
    response = post_raw(client, "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400


def test_too_many_prefetch_keys_is_413(client):
    body = patient_view_request(prefetch={f"key{i}": None for i in range(33)})
    response = client.post("/cds-services/b12-status", json=body)
    assert response.status_code == 413
    assert response.get_json()["issue"][0]["expression"] == ["prefetch"]


def test_too_many_resources_is_413(app_config):
    client = create_app({**app_config, "MAX_RESOURCES": 50}).test_client()
    observations = [{"resourceType": "Observation", "id": f"o{i}", "status": "final"} for i in range(51)]
    response = client.post("/cds-services/b12-status",
                           json=patient_view_request(prefetch={"b12Labs": searchset(*observations)}))
    assert response.status_code == 413
    assert "51 resources" in response.get_json()["issue"][0]["diagnostics"]


def test_an_integer_literal_the_parser_refuses_is_400_not_500(client):
    """Python refuses integer literals over 4,300 digits with a plain ValueError."""
    body = json.dumps(patient_view_request())[:-1] + ', "extension": ' + "9" * 5001 + "}"
    response = post_raw(client, body)
    assert response.status_code == 400
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "not valid JSON" in outcome["issue"][0]["diagnostics"]


def test_an_integer_literal_the_parser_refuses_in_feedback_is_400(client):
    response = client.post("/cds-services/b12-status/feedback", data='{"feedback": ' + "1" * 5001 + "}",
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["resourceType"] == "OperationOutcome"


def post_chunked(client, path: str, body: bytes):
    """Send a body with no Content-Length, as a chunked upload arrives (the WSGI server ends the stream)."""
    return client.post(path, input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413(app_config):
    client = create_app({**app_config, "MAX_CONTENT_LENGTH": 10_000}).test_client()
    body = json.dumps(patient_view_request()).encode()
    padded = body[:-1] + b" " * 20_000 + b"}"  # valid JSON once whole, and over the limit
    response = post_chunked(client, "/cds-services/b12-status", padded)
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert post_chunked(client, "/cds-services/b12-status/feedback", padded).status_code == 413


def test_a_chunked_body_at_the_limit_is_read(app_config):
    body = json.dumps(patient_view_request(prefetch={"patient": None})).encode()
    client = create_app({**app_config, "MAX_CONTENT_LENGTH": len(body)}).test_client()
    response = post_chunked(client, "/cds-services/b12-status", body)
    assert response.status_code != 413
