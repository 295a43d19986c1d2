"""A non-editable install carries the service definitions and the knowledge files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    [built] = out.glob("b12_cds-*.whl")
    return built


def test_the_wheel_ships_hooks_and_knowledge(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for hook in (ROOT / "hooks").glob("*.json"):
        assert f"cds_service/_hooks/{hook.name}" in names
    for knowledge in (ROOT / "cds_service" / "knowledge").glob("*.json"):
        assert f"cds_service/knowledge/{knowledge.name}" in names
    assert "cds_service/openapi.json" in names
    assert "cds_service/_docs/services/b12-status.md" in names  # what each card kind is for, in the gallery


def test_the_wheel_carries_the_apache_license_pyproject_names(wheel):
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    with zipfile.ZipFile(wheel) as built:
        [info] = {name.split("/")[0] for name in built.namelist() if name.endswith(".dist-info/METADATA")}
        metadata = built.read(f"{info}/METADATA").decode()
        assert built.read(f"{info}/licenses/LICENSE").decode() == licence
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata


def test_an_installed_copy_finds_its_packaged_hooks(wheel, tmp_path):
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = "from cds_service.registry import default_hooks_dir; print(default_hooks_dir())"
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                           check=True, capture_output=True, text=True).stdout.strip()
    assert Path(found) == target / "cds_service" / "_hooks"


def test_an_installed_copy_finds_its_packaged_fixtures(wheel, tmp_path):
    names = set(zipfile.ZipFile(wheel).namelist())
    charts = sorted((ROOT / "fhir_fixtures").glob("*/chart.json"))
    assert {f"cds_service/_fixtures/{c.parent.name}/chart.json" for c in charts} <= names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    probe = ("from cds_service.fixture_loader import default_fixtures_dir, find_scenarios; "
             "print(default_fixtures_dir()); print(len(find_scenarios(default_fixtures_dir())))")
    found, count = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                                  check=True, capture_output=True, text=True).stdout.split()
    assert Path(found) == target / "cds_service" / "_fixtures"
    assert int(count) == len(charts)
