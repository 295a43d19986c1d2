"""The "Without Docker" walkthrough (docs/walkthrough.md), run command by command as a reader would type it.

The commands are read from that page itself, so the walkthrough cannot drift from what is tested.
Only what a test must change is changed: the ports (free ones instead of 8090 and 8080), the scratch
directory, and the virtualenv's path. Installing sekmet is skipped (the test extra has it).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from fhir_server import free_port
from helpers import FIXTURES, ROOT

pytestmark = pytest.mark.integration

SECTION = re.compile(r"### Without Docker: a local FHIR server\n.*?```bash\n(.*?)```", re.S)
BIN = Path(sys.executable).parent
PY_GET = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1]).read().decode())"


def walkthrough_commands() -> list[str]:
    """The section's shell lines, comments and blanks left out."""
    match = SECTION.search((ROOT / "docs" / "walkthrough.md").read_text(encoding="utf-8"))
    assert match, "docs/walkthrough.md: the 'Without Docker' section is missing"
    return [line for line in match.group(1).splitlines() if line.strip() and not line.startswith("#")]


def adapt(command: str, fhir_port: int, service_port: int, scratch: Path) -> str:
    """Point a walkthrough command at this test's ports, scratch directory and virtualenv."""
    command = command.replace("/tmp/b12-fhir", str(scratch)).replace(".venv/bin/", f"{BIN}/")
    command = command.replace("8090", str(fhir_port)).replace("127.0.0.1:8080", f"127.0.0.1:{service_port}")
    if " fire " in command:
        command += f" --service-url http://127.0.0.1:{service_port}"
    if command.startswith("curl -s ") and not shutil.which("curl"):  # a bare machine may lack curl
        command = command.replace("curl -s ", f"{sys.executable} -c {shlex.quote(PY_GET)} ", 1)
    return command


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        assert process.poll() is None, f"exited early:\n{log.read_text()[-2000:]}"
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up:\n{log.read_text()[-2000:]}")


def test_the_readme_walkthrough_without_docker_works_step_by_step(tmp_path):
    fhir_port, service_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    env.update(CDS_PORT=str(service_port), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
               CDS_FEEDBACK_DATABASE_URL=f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    servers: list[subprocess.Popen] = []
    outputs: list[str] = []
    try:
        for line in walkthrough_commands():
            if "pip install" in line:
                continue  # the test virtualenv has sekmet already (the test extra)
            command = adapt(line, fhir_port, service_port, tmp_path)
            if " serve" in command:
                log = tmp_path / f"server{len(servers)}.log"
                with log.open("w") as sink:  # the child keeps its own copy of the descriptor
                    servers.append(subprocess.Popen(command, shell=True, cwd=ROOT, env=env, start_new_session=True,
                                                    stdout=sink, stderr=subprocess.STDOUT))
                port = fhir_port if "sekmet" in command else service_port
                wait_for(f"http://127.0.0.1:{port}/{'fhir/metadata' if 'sekmet' in command else 'healthz'}",
                         servers[-1], log)
                continue
            done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=120)
            assert done.returncode == 0, f"{shlex.split(line)[0]}: {done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
    finally:
        for server in servers:
            os.killpg(server.pid, 15)
            server.wait(timeout=15)
    loaded, fired, fired_without_prefetch, metrics = outputs[-4:]
    assert f"loaded {len(list(FIXTURES.glob('*/chart.json')))} scenarios" in loaded
    for output in (fired, fired_without_prefetch):
        assert "CRITICAL: B12 deficiency with neuropathy" in output
    assert 'b12cds_cards_total{indicator="critical",kind="deficient_neuro",service="b12-status"} 2.0' in metrics
