"""Soak test: mixed traffic against `b12-cds serve` for minutes, sampling the service's processes each minute.

Traffic (client threads, weighted at random with a fixed seed): hook calls with a complete prefetch; hook
calls that fetch everything from a loopback FHIR server that answers well, slowly (0.2-2 s a request), not at all
(nothing listens) or drips its body a byte every 0.2 s; feedback posts (1-5 items, some sent twice).
Each minute: RSS, open file descriptors and threads of the gunicorn master and each worker, and the fetch
slots busy (``b12cds_fhir_fetch_slots_busy`` in /metrics, also read every 5 s for its peak).

Writes ``soak.json`` (samples and results), ``soak-table.md`` and ``soak.png`` (matplotlib, the ``bench``
extra) to --out. Not part of the unit suite.

Run: .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/soak.py --minutes 10 --out /tmp/soak
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fhir_fixtures" / "metformin_five_years_never_tested" / "b12-status.request.json"
#: Kind of traffic -> weight. "fetch-*" calls carry no prefetch: the service fetches from that server.
MIX = {"prefetch": 35, "fetch-healthy": 25, "fetch-slow": 8, "fetch-down": 7, "fetch-drip": 5, "feedback": 20}
#: Statuses that are the right answer for each kind (anything else counts as an error).
EXPECTED = {"prefetch": {200}, "fetch-healthy": {200}, "fetch-slow": {200, 412}, "fetch-down": {412},
            "fetch-drip": {412}, "feedback": {200}}
SLOTS = re.compile(r"^b12cds_fhir_fetch_slots_busy(?:\{[^}]*\})? ([0-9.e+-]+)$", re.M)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FhirServer:
    """Loopback FHIR server: /healthy/fhir, /slow/fhir and /drip/fhir answer from one patient's record."""

    def __init__(self, record: dict[str, Any], seed: int) -> None:
        by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        patient = record.pop("patient")
        for bundle in record.values():
            for entry in (bundle or {}).get("entry", []):
                by_type[entry["resource"]["resourceType"]].append(entry["resource"])
        self.patient, self.by_type = patient, by_type
        self.random = random.Random(seed)
        self.stop = threading.Event()
        fhir = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(OSError):  # the service hung up (its deadline)
                    fhir.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def body_for(self, path: str) -> bytes:
        resource_path = path.split("/fhir/", 1)[1]
        kind = re.match(r"[A-Za-z]+", resource_path).group(0)
        if "?" not in resource_path:
            body = self.patient if kind == "Patient" else {"resourceType": "OperationOutcome", "issue": []}
        else:
            body = {"resourceType": "Bundle", "type": "searchset",
                    "entry": [{"resource": r, "search": {"mode": "match"}} for r in self.by_type.get(kind, [])]}
        return json.dumps(body).encode()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        mode = handler.path.split("/", 2)[1]
        body = self.body_for(handler.path)
        status = 404 if b'"OperationOutcome"' in body[:40] else 200
        if mode == "slow":
            time.sleep(self.random.uniform(0.2, 2.0))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if mode != "drip":
            handler.wfile.write(body)
            return
        started = time.monotonic()
        for byte in body:  # a byte every 0.2 s, for at most a minute
            if self.stop.is_set() or time.monotonic() - started > 60:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)


def process_stats(pid: int) -> dict[str, int] | None:
    """RSS (kB), threads and open file descriptors of one process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_kb": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]), "fds": fds}


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def slots_busy(base: str) -> float | None:
    try:
        match = SLOTS.search(requests.get(f"{base}/metrics", timeout=5).text)
    except requests.RequestException:
        return None
    return float(match.group(1)) if match else None


class Soak:
    """Drives traffic and samples the service; results collected for the report."""

    def __init__(self, base: str, fhir: FhirServer, down_url: str, request: dict[str, Any], seed: int) -> None:
        self.base, self.fhir, self.down_url, self.request = base, fhir, down_url, request
        self.seed = seed
        self.results: dict[str, Counter[str]] = defaultdict(Counter)
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def body(self, kind: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
        if kind == "feedback":
            items = [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-09-01T09:06:00Z",
                      "overrideReason": {"reason": {"code": "already-arranged"}}} for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.3:
                items.append(items[0])  # a duplicate in the same post
            return "/cds-services/b12-status/feedback", {"feedback": items}
        body = {**self.request, "hookInstance": str(uuid.uuid4())}
        if kind != "prefetch":
            base = self.down_url if kind == "fetch-down" else f"{self.fhir.url}/{kind.removeprefix('fetch-')}/fhir"
            body = {key: value for key, value in body.items() if key != "prefetch"}
            body["fhirServer"] = base
            body["fhirAuthorization"] = {"access_token": "soak-token", "token_type": "Bearer", "expires_in": 300,
                                         "scope": "patient/*.read", "subject": "b12-cds"}
        return "/cds-services/b12-status", body

    def client(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        session = requests.Session()
        kinds, weights = list(MIX), list(MIX.values())
        while not self.stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            path, body = self.body(kind, rng)
            started = time.perf_counter()
            try:
                outcome = str(session.post(self.base + path, json=body, timeout=30).status_code)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with self.lock:
                self.results[kind][outcome] += 1
                self.latencies[kind].append(time.perf_counter() - started)

    def sample(self, master: int, minute: float, peak: float | None) -> dict[str, Any]:
        processes = {"master": process_stats(master)}
        for number, pid in enumerate(sorted(children(master)), start=1):
            processes[f"worker{number} ({pid})"] = process_stats(pid)
        with self.lock:
            done = sum(sum(c.values()) for c in self.results.values())
        return {"minute": minute, "processes": processes, "slots_busy": slots_busy(self.base),
                "slots_busy_peak": peak, "requests_done": done}


def summarise(soak: Soak) -> dict[str, Any]:
    summary = {}
    for kind in MIX:
        counts = soak.results[kind]
        total = sum(counts.values())
        errors = sum(n for outcome, n in counts.items() if not outcome.isdigit() or int(outcome) not in EXPECTED[kind])
        latencies = sorted(soak.latencies[kind])
        summary[kind] = {
            "requests": total, "statuses": dict(counts), "errors": errors,
            "error_rate": errors / total if total else None,
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1) if latencies else None,
        }
    return summary


def table(samples: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """One row a minute (values per process: master / worker1 / worker2 ...), then the traffic."""
    names = list(dict.fromkeys(name for sample in samples for name in sample["processes"]))  # workers start late
    lines = [f"Processes, in this order: {', '.join(names)}.", "",
             "| minute | RSS (MB) | open fds | threads | fetch slots busy (now / peak in the minute) |",
             "|---|---|---|---|---|"]
    def column(stats: list[dict[str, int] | None], field: str, scale: float = 1.0, digits: int = 0) -> str:
        return " / ".join("-" if s is None else f"{s[field] / scale:.{digits}f}" for s in stats)

    for sample in samples:
        stats = [sample["processes"].get(name) for name in names]
        minute = "after (6 s idle)" if sample.get("after_traffic") else f"{sample['minute']:.0f}"
        slots = " / ".join(f"{v:.0f}" for v in (sample["slots_busy"], sample["slots_busy_peak"]) if v is not None)
        lines.append(f"| {minute} | {column(stats, 'rss_kb', 1024, 1)} | {column(stats, 'fds')} | "
                     f"{column(stats, 'threads')} | {slots} |")
    lines += ["", "| traffic | requests | statuses | unexpected | error rate | p50 ms | p95 ms |",
              "|---|---|---|---|---|---|---|"]
    for kind, row in summary.items():
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(row["statuses"].items()))
        rate = f"{row['error_rate']:.2%}" if row["error_rate"] is not None else "-"
        lines.append(f"| {kind} | {row['requests']} | {statuses} | {row['errors']} | {rate} | {row['p50_ms']} | "
                     f"{row['p95_ms']} |")
    return "\n".join(lines) + "\n"


def plot(samples: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({name for sample in samples for name in sample["processes"]})
    figure, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for axis, (field, title) in zip(axes.flat[:3], [("rss_kb", "RSS (MB)"), ("fds", "open file descriptors"),
                                                     ("threads", "threads")], strict=True):
        for name in names:
            points = [(s["minute"], s["processes"][name][field]) for s in samples
                      if (s["processes"].get(name) or None) is not None]
            values = [v / 1024 if field == "rss_kb" else v for _, v in points]
            axis.plot([m for m, _ in points], values, marker="o", label=name)
        axis.set_title(title)
        axis.set_ylim(bottom=0)
    slots = axes.flat[3]
    slots.plot([s["minute"] for s in samples], [s["slots_busy"] for s in samples], marker="o", label="at the minute")
    slots.plot([s["minute"] for s in samples], [s["slots_busy_peak"] for s in samples], marker="x", label="peak")
    slots.set_title("FHIR fetch slots busy (all workers)")
    slots.set_ylim(bottom=0)
    slots.legend()
    axes.flat[0].legend(fontsize=8)
    for axis in axes[1]:
        axis.set_xlabel("minute")
    figure.suptitle("b12-cds serve under mixed traffic (soak)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=Path("soak-results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    request = json.loads(FIXTURE.read_text())
    fhir = FhirServer(json.loads(json.dumps(request["prefetch"])), args.seed)
    port, workdir = free_port(), Path(tempfile.mkdtemp(prefix="b12cds-soak-"))
    env = {**os.environ, "CDS_AUTH_REQUIRED": "false", "CDS_LOG_LEVEL": "WARNING", "CDS_FHIR_SERVER_ALLOWLIST": "[]",
           "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{workdir / 'feedback.sqlite3'}"}
    service = subprocess.Popen(
        [str(Path(sys.executable).with_name("b12-cds")), "serve", "--port", str(port), "--workers", str(args.workers),
         "--threads", str(args.threads)], env=env, stdout=(workdir / "serve.log").open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        run(args, base, service.pid, fhir, request)
    finally:
        fhir.stop.set()
        service.send_signal(signal.SIGTERM)
        service.wait(30)


def run(args: argparse.Namespace, base: str, master: int, fhir: FhirServer, request: dict[str, Any]) -> None:
    for _ in range(200):
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.1)
    soak = Soak(base, fhir, f"http://127.0.0.1:{free_port()}/fhir", request, args.seed)
    samples = [soak.sample(master, 0, 0.0)]
    clients = [threading.Thread(target=soak.client, args=(i,), daemon=True) for i in range(args.clients)]
    for thread in clients:
        thread.start()
    started, peak = time.monotonic(), 0.0
    for minute in range(1, int(args.minutes) + 1):
        while time.monotonic() < started + minute * 60:
            time.sleep(5)
            peak = max(peak, slots_busy(base) or 0.0)
        samples.append(soak.sample(master, minute, peak))
        peak = 0.0
        print(f"minute {minute}: {json.dumps(samples[-1])}", flush=True)
    soak.stop.set()
    for thread in clients:
        thread.join(60)
    time.sleep(6)  # past every deadline: what is left busy now is a leak
    samples.append(soak.sample(master, int(args.minutes) + 0.1, None) | {"after_traffic": True})
    summary = summarise(soak)
    (args.out / "soak.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                    "mix": MIX, "samples": samples, "summary": summary}, indent=2))
    (args.out / "soak-table.md").write_text(table(samples, summary))
    print(table(samples, summary))
    try:
        plot(samples, args.out / "soak.png")
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no plot", file=sys.stderr)


if __name__ == "__main__":
    main()
