"""Settings: defaults, CDS_* environment variables, the factory mapping, and refusal of bad values."""

from __future__ import annotations

import pytest

from cds_service import create_app
from cds_service.config import DEFAULTS, load_config
from cds_service.errors import ConfigError


def test_defaults_hold_when_nothing_is_set():
    config = load_config(environ={})
    assert config["AUTH_REQUIRED"] is True
    assert config["FHIR_DEADLINE"] == DEFAULTS["FHIR_DEADLINE"][0]
    assert config["TRUSTED_ISSUERS"] == {}
    assert config["FHIR_SERVER_ALLOWLIST"] == []


def test_environment_overrides_defaults_with_the_default_type():
    config = load_config(environ={
        "CDS_AUTH_REQUIRED": "false",
        "CDS_FHIR_DEADLINE": "2.5",
        "CDS_FHIR_MAX_PAGES": "3",
        "CDS_TRUSTED_ISSUERS": '{"https://sandbox.cds-hooks.org": {"jwks_file": "jwks.json"}}',
        "CDS_FHIR_SERVER_ALLOWLIST": '["https://ehr.example.org/fhir"]',
    })
    assert config["AUTH_REQUIRED"] is False
    assert config["FHIR_DEADLINE"] == 2.5
    assert config["FHIR_MAX_PAGES"] == 3
    assert config["TRUSTED_ISSUERS"]["https://sandbox.cds-hooks.org"] == {"jwks_file": "jwks.json"}
    assert config["FHIR_SERVER_ALLOWLIST"] == ["https://ehr.example.org/fhir"]


def test_mapping_overrides_environment():
    config = load_config({"FHIR_DEADLINE": 1.0}, environ={"CDS_FHIR_DEADLINE": "9"})
    assert config["FHIR_DEADLINE"] == 1.0


@pytest.mark.parametrize(("name", "value", "message"), [
    ("CDS_AUTH_REQUIRED", "maybe", "CDS_AUTH_REQUIRED"),
    ("CDS_FHIR_DEADLINE", "soon", "CDS_FHIR_DEADLINE"),
    ("CDS_TRUSTED_ISSUERS", "{not json", "CDS_TRUSTED_ISSUERS"),
    ("CDS_TRUSTED_ISSUERS", "[1, 2]", "TRUSTED_ISSUERS must be a dict"),
    ("CDS_FHIR_MAX_PAGES", "0", "FHIR_MAX_PAGES must be a positive number"),
])
def test_bad_environment_values_are_refused_naming_the_setting(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(environ={name: value})


def test_reserved_security_keys_are_accepted_by_the_factory(app_config):
    app = create_app({**app_config, "TRUSTED_ISSUERS": {"https://sandbox.cds-hooks.org": {}},
                      "FHIR_SERVER_ALLOWLIST": ["https://ehr.example.org/fhir"]})
    assert app.config["FHIR_SERVER_ALLOWLIST"] == ["https://ehr.example.org/fhir"]


def test_authentication_required_without_a_public_url_refuses_to_start(app_config):
    # The JWT audience is the public URL; it must never be guessed from the Host header.
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app({**app_config, "AUTH_REQUIRED": True, "TRUSTED_ISSUERS": {"https://ehr": {"jwks_file": "x"}}})


def test_authentication_required_without_trusted_issuers_refuses_to_start(app_config):
    with pytest.raises(ConfigError, match="TRUSTED_ISSUERS"):
        create_app({**app_config, "AUTH_REQUIRED": True, "PUBLIC_BASE_URL": "https://cds.example.org"})


def test_running_without_authentication_logs_a_loud_warning(app_config, caplog):
    create_app(app_config)
    assert any("AUTHENTICATION IS OFF" in record.message for record in caplog.records)


def test_a_bad_knowledge_file_stops_start_up(app_config, monkeypatch):
    from cds_service.knowledge import KnowledgeError

    def broken():
        raise KnowledgeError("analytes.json: analytes.b12_total.canonicalUnit: Field required")

    monkeypatch.setattr("cds_service.app.load_knowledge", broken)
    with pytest.raises(ConfigError, match=r"knowledge: analytes\.json: analytes\.b12_total\.canonicalUnit"):
        create_app(app_config)


def test_the_public_url_must_be_https_when_authentication_is_required(app_config):
    with pytest.raises(ConfigError, match="https"):
        create_app({**app_config, "AUTH_REQUIRED": True, "PUBLIC_BASE_URL": "http://cds.example.org",
                    "TRUSTED_ISSUERS": {"https://ehr": {"jwks_file": "x"}}})
