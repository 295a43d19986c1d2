"""Benchmark the running service over HTTP: gunicorn on loopback, driven by wrk (Debian package `wrk`).

Two paths, each for --seconds with --connections open connections:
  prefetch     the EHR sends the prefetch (the call is computed in memory);
  no-prefetch  the service fetches all eight prefetch queries from a real FHIR server (sekmet) on loopback.
Reports requests/s and wrk's latency percentiles, plus the server's own view from /metrics.
Run: .venv/bin/python benchmarks/bench_http.py [--workers 2] [--threads 8] [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fhir_server import free_port, load_transaction, running_fhir_server  # noqa: E402
from helpers import load_json, with_fhir_server  # noqa: E402

SCENARIO = ROOT / "fhir_fixtures" / "deficient_with_neuropathy"
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}"):read("*a")
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f %.3f\\n", summary.requests, summary.errors.status,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk")
    with tempfile.TemporaryDirectory() as scratch, running_fhir_server(Path(scratch)) as fhir_base:
        load_transaction(fhir_base, load_json(SCENARIO / "chart.json"))
        port = free_port()
        server = _start_service(Path(scratch), port, fhir_base, args.workers, args.threads)
        try:
            url = f"http://127.0.0.1:{port}/cds-services/b12-status"
            with_prefetch = load_json(SCENARIO / "b12-status.request.json")
            without = with_fhir_server({k: v for k, v in with_prefetch.items() if k != "prefetch"},
                                       base=fhir_base, token="integration-test-token")
            print(f"gunicorn {args.workers} workers x {args.threads} threads; wrk {args.connections} connections, "
                  f"{args.seconds} s each, 2 threads; {os.cpu_count()} CPU cores shared by all")
            print(f"{'path':12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-2xx':>8}")
            for name, body in (("prefetch", with_prefetch), ("no-prefetch", without)):
                _check_once(url, body)
                _report(name, _wrk(Path(scratch), url, body, args.seconds, args.connections))
            _server_view(port)
        finally:
            server.terminate()
            server.wait(timeout=15)


def _start_service(scratch: Path, port: int, fhir_base: str, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "CDS_AUTH_REQUIRED": "false", "CDS_LOG_LEVEL": "WARNING",
           "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{scratch / 'feedback.sqlite3'}",
           "CDS_FHIR_SERVER_ALLOWLIST": json.dumps([fhir_base]),
           "PROMETHEUS_MULTIPROC_DIR": str(scratch / "metrics")}
    (scratch / "metrics").mkdir(exist_ok=True)
    command = [str(Path(sys.executable).with_name("b12-cds")), "serve", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return server
        except requests.RequestException:
            time.sleep(0.1)
    server.kill()
    sys.exit("the service did not start")


def _check_once(url: str, body: dict) -> None:
    response = requests.post(url, json=body, timeout=10)
    if response.status_code != 200 or not response.json().get("cards"):
        sys.exit(f"{url}: expected cards, got {response.status_code} {response.text[:300]}")


def _wrk(scratch: Path, url: str, body: dict, seconds: int, connections: int) -> list[float]:
    (scratch / "body.json").write_text(json.dumps(body))
    (scratch / "post.lua").write_text(LUA.format(body=scratch / "body.json"))
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(scratch / "post.lua"),
                             url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return [float(value) for value in line.split()[1:]]


def _report(name: str, result: list[float]) -> None:
    count, errors, duration_us, p50, p95, p99, worst = result
    print(f"{name:12} {count / (duration_us / 1e6):8.0f} {p50:8.2f} {p95:8.2f} {p99:8.2f} {worst:8.2f} {errors:8.0f}")


def _server_view(port: int) -> None:
    """Print the service's own counts, to show the metrics agree with the load generator."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    calls = [line for line in text.splitlines() if line.startswith("b12cds_hook_calls_total")]
    print("server /metrics:", "; ".join(calls) or "(no b12cds_hook_calls_total yet)")


if __name__ == "__main__":
    main()
