"""docs/settings.md documents every setting; the README holds the test command CI relies on."""

from __future__ import annotations

from helpers import ROOT

from cds_service.config import DEFAULTS

README = (ROOT / "README.md").read_text(encoding="utf-8")
SETTINGS = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_settings_table():
    missing = [key for key in DEFAULTS if f"| `{key}` |" not in SETTINGS]
    assert missing == []


def test_ci_runs_the_readme_test_command():
    command = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
