"""Start a real FHIR R4 server (sekmet, SQLite-backed) on loopback for integration tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

BEARER = "integration-test-token"


def free_port() -> int:
    """Ask the OS for a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sekmet_command() -> list[str]:
    """Find the sekmet entry point next to this interpreter (the test virtualenv)."""
    candidate = Path(sys.executable).with_name("sekmet")
    return [str(candidate)] if candidate.exists() else [shutil.which("sekmet") or "sekmet"]


@contextmanager
def running_fhir_server(workdir: Path, startup_seconds: float = 60.0) -> Iterator[str]:
    """Run sekmet on 127.0.0.1 with bearer-token auth; yield its FHIR base URL; stop it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    settings = {
        "base_url": base, "data_dir": str(workdir / "data"), "log_inbound": False,
        "simulator": {"enabled": False},  # no simulated lab/pharmacy answers to our resources
        "validation": {"inbound": "off"},
        "server_auth": {"types": ["bearer"], "tokens": [BEARER]},  # so tests prove the token is sent
    }
    config = workdir / "settings.yaml"
    config.write_text(json.dumps(settings))  # JSON is YAML
    log = (workdir / "sekmet.log").open("w")
    process = subprocess.Popen(
        [*sekmet_command(), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SEKMET_CONFIG": str(config)},
    )
    try:
        wait_until_up(base, process, startup_seconds, workdir / "sekmet.log")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_until_up(base: str, process: subprocess.Popen, seconds: float, log_path: Path, *, name: str = "sekmet",
                  poll_timeout: float = 1, interval: float = 0.2) -> None:
    """Wait for GET /metadata to answer 200; fail with the server log's tail if it exits or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited early:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/metadata", timeout=poll_timeout).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise RuntimeError(f"{name} did not start within {seconds} s:\n{log_path.read_text()[-3000:]}")


def load_transaction(base: str, bundle: dict) -> dict:
    """POST a transaction Bundle and fail loudly if the server refuses it."""
    response = requests.post(base, json=bundle, timeout=30, headers={
        "Authorization": f"Bearer {BEARER}", "Content-Type": "application/fhir+json"})
    response.raise_for_status()
    return response.json()


def server_kind(request) -> str:
    """Which FHIR server a test runs against ("sekmet" or "hapi"), from the session fixture's parameter."""
    return request.node.callspec.params["fhir_server"]
