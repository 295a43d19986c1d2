"""Limits on what one request can make the service parse: body size, nesting, keys, resources."""

from __future__ import annotations

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
