"""Suggested resources are checked against the FHIR R4 model at start-up, in a child process.

The child (``cards/fhir_check.py``) keeps ``fhir.resources`` out of the service's own processes (6 MB a
worker); a template it finds invalid, or a checker that cannot run, stops start-up by name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.cards import fhir_check, resources
from cds_service.cards.resources import SuggestedResourceError
from cds_service.errors import ConfigError
from cds_service.knowledge import PACKAGE_DIR, load_knowledge

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def unchecked(monkeypatch):
    """No knowledge object has its templates built and checked already (each test starts the checker)."""
    monkeypatch.setattr(resources, "_TEMPLATES", {})


def _knowledge_with_lab_test(tmp_path: Path, key: str, **changes: str) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(PACKAGE_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    clinical = json.loads((folder / "clinical.json").read_text(encoding="utf-8"))
    clinical["lab_tests"][key].update(changes)
    (folder / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    return folder


def test_the_service_never_imports_the_fhir_models_itself():
    """The app is built, its templates checked, and no fhir.resources (nor its yaml or lxml) is loaded."""
    script = ("import sys\nfrom cds_service import create_app\n"
              "create_app({'AUTH_REQUIRED': False, 'FEEDBACK_DATABASE_URL': 'sqlite://', 'LOG_LEVEL': 'ERROR'})\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'fhir', 'fhir_core', 'yaml', 'lxml'}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "CDS_AUTH_REQUIRED": "false"}, check=True)
    assert done.stdout.strip() == "[]"


def test_a_template_invalid_against_fhir_r4_stops_start_up_naming_the_element(tmp_path, app_config, monkeypatch,
                                                                               unchecked):
    folder = _knowledge_with_lab_test(tmp_path, "mma", code="13964-2 ")  # FHIR codes have no trailing space
    monkeypatch.setattr("cds_service.app.load_knowledge", lambda: load_knowledge(folder))
    with pytest.raises(ConfigError, match=r"(?s)knowledge: ServiceRequest invalid: .*code\.coding\.0\.code\n"):
        create_app(app_config)


def test_every_problem_of_every_resource_is_named(unchecked):
    """The knowledge files already refuse empty texts; the check still names an empty element by its path."""
    valid = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
             "subject": {"reference": "Patient/p1"}, "code": {"text": "Serum MMA"}}
    resources.check_against_fhir_model([valid])
    with pytest.raises(SuggestedResourceError) as raised:
        resources.check_against_fhir_model([valid, {**valid, "note": []}, {**valid, "authoredOn": "yesterday"}])
    assert str(raised.value).startswith("ServiceRequest.note is empty; ServiceRequest invalid: ")


def test_a_checker_that_cannot_run_stops_start_up(app_config, monkeypatch, unchecked, tmp_path):
    """Never a suggestion unchecked: no checker, no start-up."""
    monkeypatch.setattr(resources, "_CHECKER", tmp_path / "missing.py")
    with pytest.raises(ConfigError, match=r"FHIR R4 check of the suggested resources failed \(exit status 2\)"):
        create_app(app_config)
    monkeypatch.setattr(resources.sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(ConfigError, match="FHIR R4 check of the suggested resources could not run"):
        create_app(app_config)


def test_a_second_app_in_the_same_process_does_not_start_the_checker_again(app_config, monkeypatch, unchecked):
    runs = []
    real_run = subprocess.run
    monkeypatch.setattr(resources.subprocess, "run", lambda *a, **k: runs.append(a) or real_run(*a, **k))
    create_app(app_config)
    create_app(app_config)
    assert len(runs) == 1


def test_the_checker_names_every_problem_of_every_resource():
    valid = {"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
             "subject": {"reference": "Patient/p1"}, "code": {"text": "Serum MMA"}}
    assert fhir_check.problems(valid) == []
    assert fhir_check.problems({**valid, "note": [], "category": [{}]}) == [
        "ServiceRequest.note is empty", "ServiceRequest.category[0] is empty"]
    invalid, *empties = fhir_check.problems({**valid, "code": {"text": ""}, "note": []})
    assert invalid.startswith("ServiceRequest invalid:") and "code.text" in invalid
    assert empties == ["ServiceRequest.code.text is empty", "ServiceRequest.note is empty"]
    [invalid] = fhir_check.problems({**valid, "authoredOn": "yesterday"})
    assert invalid.startswith("ServiceRequest invalid:") and "authoredOn" in invalid
    assert fhir_check.problems({"resourceType": "Patient"}) == [
        "not a resource this service suggests (resourceType 'Patient')"]


def test_the_checker_runs_alone_as_a_script():
    """The way start-up runs it: isolated mode, JSON in, one list of problems per resource out."""
    examples = [{"resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
                 "subject": {"reference": "Patient/p1"}, "code": {"text": "x"}}, {"resourceType": "Patient"}]
    done = subprocess.run([sys.executable, "-I", str(resources._CHECKER)], input=json.dumps(examples),
                          capture_output=True, text=True, timeout=120, check=True, cwd="/")
    assert json.loads(done.stdout) == [[], ["not a resource this service suggests (resourceType 'Patient')"]]
