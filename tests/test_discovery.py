"""GET /cds-services: exactly CDS Hooks 2.0 discovery, generated from hooks/*.json only."""

from __future__ import annotations

import json
import os

from helpers import GOLDEN, ROOT, load_json, openapi_validator


def test_discovery_matches_the_golden_file(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    golden = GOLDEN / "discovery.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(response.get_json(), indent=2, ensure_ascii=False) + "\n")
    assert response.get_json() == load_json(golden)


def test_discovery_is_valid_against_our_openapi_document(client):
    errors = list(openapi_validator("Discovery").iter_errors(client.get("/cds-services").get_json()))
    assert errors == []


def test_discovery_lists_what_the_hooks_files_define_and_nothing_else(client):
    services = {s["id"]: s for s in client.get("/cds-services").get_json()["services"]}
    files = {path.stem: load_json(path) for path in (ROOT / "hooks").glob("*.json")}
    assert set(services) == set(files)
    for service_id, definition in files.items():
        expected = {k: v for k, v in definition.items() if not k.startswith("x-")}
        assert services[service_id] == expected


def test_openapi_document_is_served(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.1")
