"""docker-compose.yml: pinned images, wiring, and environment that the real code accepts (no Docker needed)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from container_files import (
    cli_context,
    compose,
    dockerfile_stages,
    exec_form,
    healthcheck,
    serve_environment_names,
)
from helpers import ROOT

from cds_service import create_app
from cds_service.config import DEFAULTS, load_config
from cds_service.data.allowlist import ServerPolicy

SPEC = compose()
SERVICES: dict[str, dict[str, Any]] = SPEC["services"]
DEV_PASSWORD = SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"]
OUR_IMAGE = "b12-cds:dev"


def environment(service: str) -> dict[str, str]:
    return SERVICES[service].get("environment", {})


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_stack_has_its_services_and_follows_the_compose_spec():
    assert "version" not in SPEC  # obsolete in the Compose specification
    assert {"hapi", "postgres", "cds", "loader"} <= set(SERVICES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_image_is_pinned_to_a_version(service):
    image = SERVICES[service]["image"]
    name, _, tag = image.partition("@")[0].rpartition(":")
    assert name and tag and tag != "latest", image
    if "build" in SERVICES[service]:
        assert image == OUR_IMAGE  # built here from the Dockerfile, one tag for every service using it
    else:
        assert re.search(r"\d+\.\d+", tag), f"{image}: pin a release (major.minor at least), not a moving tag"


def test_third_party_images_are_the_official_ones():
    assert SERVICES["hapi"]["image"].startswith("hapiproject/hapi:v")
    assert SERVICES["postgres"]["image"].startswith("postgres:")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_environment_is_a_mapping_of_strings(service):
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict)
    # YAML would turn false, 8 or 1.0 into other types, which Compose then spells its own way.
    assert {key: type(value).__name__ for key, value in env.items() if not isinstance(value, str)} == {}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_are_configured_by_environment_variables_only(service):
    """STYLE.md rule 8: no configuration files, env files or secrets mounted into any service."""
    spec = SERVICES[service]
    assert not {"configs", "secrets", "env_file", "entrypoint"} & set(spec)
    for volume in spec.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
        assert source in SPEC.get("volumes", {}), f"{service}: only named volumes (data), no bind mounts"


def test_cds_environment_names_only_real_settings():
    env = environment("cds")
    known = {f"CDS_{key}" for key in DEFAULTS} | serve_environment_names()
    assert [name for name in env if name not in known] == []


def test_cds_environment_is_accepted_by_the_configuration_loader():
    settings = load_config(environ=environment("cds"))
    assert settings["AUTH_REQUIRED"] is False
    assert settings["LOG_FORMAT"] == "json"
    url = urlsplit(settings["FEEDBACK_DATABASE_URL"])
    assert (url.scheme, url.hostname, url.port) == ("postgresql+psycopg", "postgres", 5432)
    ServerPolicy.from_settings(settings["FHIR_SERVER_ALLOWLIST"], development=not settings["AUTH_REQUIRED"])


def test_cds_serve_options_from_the_environment_parse(monkeypatch):
    image_env = dockerfile_stages()[-1].env()
    for name, value in {**image_env, **environment("cds")}.items():
        if name.startswith("CDS_"):
            monkeypatch.setenv(name, value)
    context = cli_context(exec_command())
    assert context.params["host"] == "0.0.0.0"
    assert context.params["port"] == int(container_port("cds"))
    assert (context.params["workers"], context.params["threads"]) == (2, 8)


def test_the_image_with_the_stack_environment_starts(monkeypatch, tmp_path):
    """The Dockerfile's ENV, then compose's environment, with only the database swapped for SQLite."""
    env = {**dockerfile_stages()[-1].env(), **environment("cds")}
    env["CDS_FEEDBACK_DATABASE_URL"] = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    for name, value in env.items():
        if name.startswith("CDS_"):
            monkeypatch.setenv(name, value)
    app = create_app()
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/cds-services").status_code == 200  # no JWT: the development stack
    servers = app.extensions["b12cds"].fetch_settings.servers
    servers.check(loader_fhir_base())
    servers.check("http://localhost:8081/fhir")  # the sandbox and `b12-cds fire` on the host


def test_the_loader_runs_a_real_command_once_against_hapi():
    loader = SERVICES["loader"]
    assert loader["image"] == SERVICES["cds"]["image"]
    assert loader["restart"] == "no"
    assert loader["depends_on"]["hapi"]["condition"] == "service_started"
    context = cli_context(loader["command"])
    assert context.info_name == "load-fixtures"
    assert context.params["fhir_base"] == "http://hapi:8080/fhir"
    assert context.params["wait_seconds"] >= 120  # HAPI takes a minute or more to start
    assert loader["healthcheck"] == {"disable": True}


def test_the_allowlist_holds_the_fhir_base_every_tool_service_names():
    allowlist = load_config(environ=environment("cds"))["FHIR_SERVER_ALLOWLIST"]
    assert loader_fhir_base() in allowlist
    fire = SERVICES["fire"]["command"]
    assert option(fire, "--fhir-base") in allowlist
    assert urlsplit(option(fire, "--fhir-base")).hostname == "hapi"


def test_the_in_network_mini_ehr_calls_the_cds_service():
    fire = SERVICES["fire"]
    assert fire["profiles"] == ["tools"]  # not started by `docker compose up`
    context = cli_context(fire["command"])
    assert context.info_name == "fire"
    service = urlsplit(context.params["service_url"])
    assert (service.hostname, str(service.port)) == ("cds", container_port("cds"))
    assert fire["depends_on"]["cds"]["condition"] == "service_healthy"
    assert fire["depends_on"]["loader"]["condition"] == "service_completed_successfully"  # patients loaded first
    assert SERVICES["loader"].get("restart") == "no"  # a one-shot job: "completed" must be reachable


def test_dependencies_exist_and_a_healthy_condition_has_a_health_check():
    for name, spec in SERVICES.items():
        for target, condition in spec.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            if condition["condition"] == "service_healthy":
                has_own = "test" in SERVICES[target].get("healthcheck", {})
                from_image = "build" in SERVICES[target] and dockerfile_stages()[-1].all("HEALTHCHECK")
                assert has_own or from_image, f"{target} has no health check"
    assert SERVICES["cds"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_cds_uses_the_images_own_health_check():
    assert "healthcheck" not in SERVICES["cds"]
    _, command = healthcheck(dockerfile_stages()[-1])
    assert "/healthz" in command[-1]


def test_published_ports():
    # loopback of the host only: the stack runs without authentication
    assert SERVICES["hapi"]["ports"] == ["127.0.0.1:8081:8080"]
    assert SERVICES["cds"]["ports"] == ["127.0.0.1:8080:8080"]
    [exposed] = dockerfile_stages()[-1].all("EXPOSE")
    assert exposed == container_port("cds")
    assert "ports" not in SERVICES["postgres"]  # reached by the cds container only


def test_hapi_is_an_r4_server_the_browser_sandbox_may_read():
    env = environment("hapi")
    assert env["hapi.fhir.fhir_version"] == "R4"
    assert env["hapi.fhir.cors.allowed_origin"] == "*"
    assert env["hapi.fhir.client_id_strategy"] in ("ALPHANUMERIC", "ANY")  # our ids: "dwn-patient", ...
    # distroless: no shell, no curl; the check is the image's own Java class, in exec form
    assert SERVICES["hapi"]["healthcheck"]["test"][:2] == ["CMD", "java"]


def test_postgres_is_checked_with_pg_isready_and_keeps_its_data_in_a_named_volume():
    postgres = SERVICES["postgres"]
    test = postgres["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    env = postgres["environment"]
    assert option(test, "--username") == env["POSTGRES_USER"] and option(test, "--dbname") == env["POSTGRES_DB"]
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert "postgres-data" in SPEC["volumes"]


def test_the_only_credential_is_the_documented_development_password():
    url = urlsplit(environment("cds")["CDS_FEEDBACK_DATABASE_URL"])
    postgres = environment("postgres")
    assert (url.username, url.password, url.path) == (
        postgres["POSTGRES_USER"], DEV_PASSWORD, "/" + postgres["POSTGRES_DB"])
    for service in SERVICES:
        for name, value in environment(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|PRIVATE|_KEY", name.upper()):
                assert value == DEV_PASSWORD, f"{service}.{name}"
            assert "BEGIN" not in value and "eyJ" not in value  # no PEM key, no JWT
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value) or DEV_PASSWORD in value
        assert "--token" not in SERVICES[service].get("command", [])
    assert "dev" in DEV_PASSWORD  # it says what it is
    walkthrough = (ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8")
    assert DEV_PASSWORD in walkthrough and "development default" in walkthrough


def loader_fhir_base() -> str:
    return option(SERVICES["loader"]["command"], "--fhir-base")


def container_port(service: str) -> str:
    [mapping] = SERVICES[service]["ports"]
    return mapping.rpartition(":")[2]


def exec_command() -> list[str]:
    [cmd] = dockerfile_stages()[-1].all("CMD")
    return exec_form(cmd)
