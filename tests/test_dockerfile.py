"""The Dockerfile, read without Docker: pinned base, non-root, and a health check and command that really work."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from container_files import cli_context, dockerfile_stages, dockerignore_patterns, exec_form, healthcheck
from fhir_server import free_port
from helpers import ROOT

STAGES = dockerfile_stages()
FINAL = STAGES[-1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_a_multi_stage_build_on_a_pinned_slim_python_image():
    assert len(STAGES) >= 2
    bases = {stage.base for stage in STAGES if stage.base not in {s.name for s in STAGES}}
    [base] = bases  # builder and runtime on the same image
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    minimum = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, base.split(":")[1].split(".")[:2])) >= tuple(map(int, minimum.split(".")))


def test_the_builder_makes_wheels_and_the_runtime_installs_them_offline_with_postgres():
    builder = STAGES[0]
    assert any(run.startswith("pip wheel") and ".[postgres]" in run for run in builder.all("RUN"))
    installs = [run for run in FINAL.all("RUN") if "pip install" in run]
    assert len(installs) == 1 and "--no-index" in installs[0] and "b12-cds[postgres]" in installs[0]


def test_no_compiler_is_installed_in_the_final_image():
    for run in FINAL.all("RUN"):
        assert not re.search(r"\b(gcc|g\+\+|clang|build-essential|make|python3?-dev|libpq-dev)\b", run), run


def test_the_final_stage_runs_as_a_non_root_user():
    user = FINAL.all("USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    assert any("useradd" in run and user in run for run in FINAL.all("RUN"))


def test_the_image_environment():
    env = FINAL.env()
    assert env["CDS_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["CDS_PORT"] == FINAL.all("EXPOSE")[0] == "8080"
    # directories the service user must write to are made and handed to that user in the image
    user = FINAL.all("USER")[-1].split(":")[0]
    database = env["CDS_FEEDBACK_DATABASE_URL"].removeprefix("sqlite:///")
    for directory in (env["PROMETHEUS_MULTIPROC_DIR"], str(Path(database).parent)):
        assert any("mkdir" in run and directory in run and f"chown {user}" in run for run in FINAL.all("RUN"))


def test_the_labels_describe_the_image_and_match_the_project():
    labels = dict(re.findall(r'(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"', " ".join(FINAL.all("LABEL"))))
    assert labels["org.opencontainers.image.version"] == PYPROJECT["project"]["version"]
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]
    assert labels["org.opencontainers.image.title"] == PYPROJECT["project"]["name"]
    assert labels["org.opencontainers.image.source"].startswith("https://")


def test_the_command_is_exec_form_and_accepted_by_the_cli(monkeypatch):
    assert FINAL.all("ENTRYPOINT") == []  # so `docker compose run <svc> b12-cds <command>` works
    [cmd] = FINAL.all("CMD")
    argv = exec_form(cmd)
    assert Path(argv[0]).name in PYPROJECT["project"]["scripts"]
    for name, value in FINAL.env().items():
        if name.startswith("CDS_"):  # the options `serve` reads; nothing that changes this process
            monkeypatch.setenv(name, value)
    context = cli_context(argv)
    assert context.info_name == "serve"
    assert (context.params["host"], context.params["port"], context.params["dev"]) == ("0.0.0.0", 8080, False)


def test_the_build_context_keeps_what_the_wheel_build_needs():
    """.dockerignore must not drop the readme, the package or anything hatch force-includes."""
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = ["pyproject.toml", PYPROJECT["project"]["readme"], *wheel["packages"], *wheel.get("force-include", {})]
    patterns = dockerignore_patterns()
    for path in needed:
        assert (ROOT / path).exists(), path
        prefixes = [str(Path(*Path(path).parts[: i + 1])) for i in range(len(Path(path).parts))]
        excluded = [p for p in patterns for prefix in prefixes if fnmatch.fnmatch(prefix, p.lstrip("/"))]
        assert excluded == [], f"{path} is excluded from the build context by {excluded}"
    for private in (".venv", ".git", "instance", ".pytest_cache", "tests"):
        assert private in patterns


# --- the HEALTHCHECK command, run as written against a real `b12-cds serve` on loopback ---

def run_healthcheck(port: int) -> subprocess.CompletedProcess:
    options, command = healthcheck(FINAL)
    assert command[0] == "python"  # the image's interpreter; here, the test virtualenv's
    timeout = float(options["timeout"].removesuffix("s"))
    env = {**os.environ, "CDS_PORT": str(port)}
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, text=True,
                          timeout=timeout + 5)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def serve(port: int, tmp_path: Path):
    """Start `b12-cds serve` (gunicorn) with the image's environment on ``port`` (loopback) when called."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update(FINAL.env())
    env.update({"CDS_HOST": "127.0.0.1", "CDS_PORT": str(port), "CDS_AUTH_REQUIRED": "false",
                "CDS_WORKERS": "1", "CDS_THREADS": "2", "CDS_LOG_LEVEL": "WARNING",
                "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
                "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    started: list[subprocess.Popen] = []
    log_path = tmp_path / "serve.log"
    log = log_path.open("w")

    def start() -> tuple[subprocess.Popen, Path]:
        started.append(subprocess.Popen([str(Path(sys.executable).with_name("b12-cds")), "serve"], env=env,
                                        stdout=log, stderr=subprocess.STDOUT))
        return started[-1], log_path

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
    log.close()


def test_the_healthcheck_passes_when_the_service_is_up_and_fails_when_it_is_down(port, serve):
    assert run_healthcheck(port).returncode == 1  # nothing listens yet
    process, log = serve()
    deadline = time.monotonic() + 60
    while (result := run_healthcheck(port)).returncode != 0:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"{result.stderr[-500:]}\n{log.read_text()[-3000:]}"
        time.sleep(0.3)
    process.terminate()
    process.wait(timeout=30)
    down = run_healthcheck(port)
    assert down.returncode == 1, down  # 1 is "unhealthy" to Docker (2 is reserved)
