"""b12-cds against a no-op Flask app on identical gunicorn settings, in one run, alternating.

Both run as gunicorn on loopback with the same worker class, workers and threads; the no-op answers
{"cards": []} to the same request bodies. Each measurement is taken --runs times, the two apps
alternating (the order flips every run), and the median is printed:

  fresh worker   first call on a freshly started server, and the median of the next 20 calls;
  throughput     wrk, --connections keep-alive connections, --seconds per run (b12-status, order-sign);
  CPU per call   CPU seconds of the gunicorn master and workers during the wrk run / calls served;
  fixed rate     open loop at --rate calls/s for --rate-seconds (p50/p95/p99 from when each call was due);
  memory         RSS and PSS of each worker after the load;
  in process     CPU per b12-status fixture call (Flask test client) and one call with 5,000 Observations.

Run: .venv/bin/python benchmarks/bench_vs_noop.py [--runs 3] [--json results.json] [--worker-class gthread]
Needs wrk (apt-get install -y wrk). Loopback only; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE)]

import loadgen  # noqa: E402

from cds_service.cli import WORKER_CLASSES  # noqa: E402

SCENARIO = ROOT / "fhir_fixtures" / "deficient_with_neuropathy"
CALLS = {"b12-status": "b12-status", "order-sign": "folic-acid-safety-sign"}  # label -> service id
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def main() -> None:
    args = _arguments()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install -y wrk")
    bodies = {label: (SCENARIO / f"{service}.request.json").read_bytes() for label, service in CALLS.items()}
    results: dict[str, Any] = {"settings": vars(args), "cpus": os.cpu_count(), "started": time.time()}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        print(_heading(args))
        if not args.no_fresh:
            results["first_call"] = _fresh_workers(scratch, args, bodies["b12-status"])
        with _server("b12-cds", scratch, args) as b12, _server("no-op", scratch, args) as noop:
            servers = {"b12-cds": b12, "no-op": noop}
            results["throughput"] = _throughput(scratch, args, servers, bodies)
            results["fixed_rate"] = _fixed_rate(args, servers, bodies)
            results["memory"] = {name: [loadgen.memory(pid) for pid in loadgen.children(server.pid)]
                                 for name, server in servers.items()}
    if not args.no_in_process:
        results["in_process"] = _in_process(args.runs)
    _print_summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
        print(f"raw results: {args.json}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--worker-connections", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--json", help="write the raw numbers here")
    parser.add_argument("--label", default="", help="a name for this configuration in the JSON")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument("--no-fresh", action="store_true", help="skip the first-call measurement")
    parser.add_argument("--noop-worker-class", choices=["b12-cds", "gunicorn"], default="b12-cds",
                        help="the no-op's gthread worker: the one b12-cds serve runs (cds_service/workers.py, the "
                             "same settings, the default) or gunicorn's stock gthread worker")
    parser.add_argument("--noop-access-logger", choices=["gunicorn", "b12-cds"], default="gunicorn",
                        help="the no-op's access logger: gunicorn's stock one (the bare stack, the default) or the "
                             "leaner one b12-cds serve uses (cds_service/access_log.py), for a like-for-like web stack")
    args = parser.parse_args()
    if args.worker_class == "sync":
        args.threads = 1  # gunicorn would silently switch a sync worker with threads to gthread
    return args


def _heading(args: argparse.Namespace) -> str:
    return (f"gunicorn {args.worker_class} {args.workers} workers x {args.threads} threads "
            f"(worker_connections {args.worker_connections}); wrk {args.connections} connections {args.seconds} s; "
            f"{args.rate:.0f} calls/s for {args.rate_seconds:.0f} s; {args.runs} runs alternating; "
            f"no-op access logger: {args.noop_access_logger}; no-op worker class: {args.noop_worker_class}; "
            f"{os.cpu_count()} CPU cores shared with the load generators")


@contextmanager
def _server(name: str, scratch: Path, args: argparse.Namespace) -> Iterator[subprocess.Popen[bytes]]:
    port = _free_port()
    common = ["--workers", str(args.workers), "--threads", str(args.threads),
              "--worker-connections", str(args.worker_connections)]
    if name == "b12-cds":
        metrics = Path(tempfile.mkdtemp(dir=scratch, prefix="metrics-"))
        env = {**os.environ, "CDS_AUTH_REQUIRED": "false", "CDS_LOG_LEVEL": "WARNING",
               "CDS_FEEDBACK_DATABASE_URL": f"sqlite:///{scratch / 'feedback.sqlite3'}",
               "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
        command = [str(Path(sys.executable).with_name("b12-cds")), "serve", "--port", str(port), *common,
                   "--worker-class", args.worker_class]
    else:
        env = dict(os.environ)
        # the class b12-cds serve gives gunicorn for --worker-class (gthread: cds_service/workers.py), or stock
        worker_class = args.worker_class if args.noop_worker_class == "gunicorn" else WORKER_CLASSES[args.worker_class]
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *common,
                   "--worker-class", worker_class, "--timeout", "30",
                   "--access-logfile", "-", "--error-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
                   *(["--logger-class", "cds_service.access_log.AccessLogger"]
                     if args.noop_access_logger == "b12-cds" else []),
                   "--chdir", str(HERE), "noop_app:app"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.port = port  # type: ignore[attr-defined]
    try:
        _wait_listening(port, process)
        loadgen.wait_idle(process.pid, args.workers)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    for _ in range(600):
        if process.poll() is not None:
            sys.exit(f"the server on port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def _fresh_workers(scratch: Path, args: argparse.Namespace, body: bytes) -> dict[str, list[dict[str, float]]]:
    """Start each server fresh, wait until its workers are idle, then time the first calls."""
    found: dict[str, list[dict[str, float]]] = {"b12-cds": [], "no-op": []}
    for run in range(args.runs):
        for name in _alternate(("b12-cds", "no-op"), run):
            with _server(name, scratch, args) as server:
                path = f"/cds-services/{CALLS['b12-status']}"
                first, status, _ = loadgen.post_once(server.port, path, body)  # type: ignore[attr-defined]
                later = [loadgen.post_once(server.port, path, body)[0] for _ in range(20)]  # type: ignore[attr-defined]
                if status != 200:
                    sys.exit(f"{name}: first call answered {status}")
                found[name].append({"first_ms": first, "warm_ms": statistics.median(later),
                                    "worst_next_ms": max(later)})
    return found


def _alternate(items: tuple[Any, ...], run: int) -> tuple[Any, ...]:
    return items if run % 2 == 0 else tuple(reversed(items))


def _throughput(scratch: Path, args: argparse.Namespace, servers: dict[str, Any],
                bodies: dict[str, bytes]) -> dict[str, list[dict[str, float]]]:
    """wrk on each (server, call) in turn, --runs times; CPU of the server's processes per call."""
    plan = [("no-op", label) for label in CALLS] + [("b12-cds", label) for label in CALLS]
    found: dict[str, list[dict[str, float]]] = {f"{name} {label}": [] for name, label in plan}
    for name, label in plan:  # warm-up, not counted
        loadgen.wrk_run(scratch, _url(servers[name], label), bodies[label], 2, args.connections)
    for run in range(args.runs):
        for name, label in _alternate(tuple(plan), run):
            server = servers[name]
            workers = loadgen.children(server.pid)
            before = [loadgen.cpu_seconds([pid]) for pid in (server.pid, *workers)]
            result = loadgen.wrk_run(scratch, _url(server, label), bodies[label], args.seconds, args.connections)
            spent = [loadgen.cpu_seconds([pid]) - b for pid, b in zip((server.pid, *workers), before, strict=True)]
            used = sum(spent)
            if result.non_2xx or result.socket_errors:
                print(f"  warning: {name} {label}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
            found[f"{name} {label}"].append({"rate": result.rate, "cpu_ms_per_call": used * 1000 / result.requests,
                                             "calls": result.requests,
                                             # 1/workers when the load is shared evenly; 1.0 when one worker did it all
                                             "busiest_worker_share": max(spent[1:]) / max(sum(spent[1:]), 1e-9)})
    return found


def _url(server: Any, label: str) -> str:
    return f"http://127.0.0.1:{server.port}/cds-services/{CALLS[label]}"


def _fixed_rate(args: argparse.Namespace, servers: dict[str, Any],
                bodies: dict[str, bytes]) -> dict[str, list[dict[str, float]]]:
    plan = [("no-op", "b12-status"), ("b12-cds", "b12-status"), ("b12-cds", "order-sign")]
    found: dict[str, list[dict[str, float]]] = {f"{name} {label}": [] for name, label in plan}
    for run in range(args.runs):
        for name, label in _alternate(tuple(plan), run):
            latencies = sorted(loadgen.fixed_rate(servers[name].port, f"/cds-services/{CALLS[label]}",
                                                  bodies[label], args.rate, args.rate_seconds))
            found[f"{name} {label}"].append({q: _percentile(latencies, p) for q, p in
                                              (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))})
    return found


def _percentile(values: list[float], p: float) -> float:
    index = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[index]


def _in_process(runs: int) -> dict[str, Any]:
    """Run the in-process measurements in a child process, so the servers' numbers are unaffected by imports."""
    output = subprocess.run([sys.executable, str(HERE / "bench_in_process.py"), "--rounds", str(max(5, runs * 3)),
                             "--json"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def _print_summary(results: dict[str, Any]) -> None:
    first = results.get("first_call", {})
    print("\nfresh worker (median of runs)      first call ms   next calls ms   ratio")
    for name, rows in first.items():
        print(f"  {name:32} {_median(rows, 'first_ms'):13.1f} {_median(rows, 'warm_ms'):15.2f} "
              f"{_median(rows, 'first_ms') / _median(rows, 'warm_ms'):7.1f}")
    put = results["throughput"]
    print("\nthroughput (wrk)                    calls/s (runs)              median  ratio  CPU ms/call  busiest")
    for key, rows in put.items():
        label = key.split(" ", 1)[1]
        ratios = [row["rate"] / noop["rate"] for row, noop in zip(rows, put[f"no-op {label}"], strict=True)]
        runs = " ".join(f"{row['rate']:6.0f}" for row in rows)
        print(f"  {key:32} {runs:27} {_median(rows, 'rate'):6.0f} {statistics.median(ratios):6.3f} "
              f"{_median(rows, 'cpu_ms_per_call'):8.2f} {max(row.get('busiest_worker_share', 0) for row in rows):8.2f}")
    print(f"\nfixed rate {results['settings']['rate']:.0f} calls/s          p50 ms  p95 ms  p99 ms (each run)  max ms")
    for key, rows in results["fixed_rate"].items():
        runs = "/".join(f"{row['p99']:.0f}" for row in rows)
        print(f"  {key:32} {_median(rows, 'p50'):6.1f} {_median(rows, 'p95'):7.1f} {_median(rows, 'p99'):7.1f} "
              f"({runs}) {max(row['max'] for row in rows):7.0f}")
    print("\nmemory per worker after the load    RSS MB  PSS MB")
    for name, rows in results["memory"].items():
        for row in rows:
            print(f"  {name:32} {row['rss_mb']:6.1f} {row['pss_mb']:7.1f}")
    if "in_process" in results:
        found = results["in_process"]
        print(f"\nin process: b12-status fixture call {found['b12_status_cpu_ms_mean']:.2f} ms CPU mean "
              f"({found['b12_status_cpu_ms_median']:.2f} median); order-sign {found['order_sign_cpu_ms_mean']:.2f} ms; "
              f"5,000 Observations {found['observations_5000_ms_median']:.1f} ms (median of "
              f"{len(found['observations_5000_ms'])})")


if __name__ == "__main__":
    main()
