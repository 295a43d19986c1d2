"""Load generators and process probes for the benchmarks (loopback only, bounded in time).

- ``wrk_run``: closed loop, as fast as it goes (Debian package ``wrk``), a fixed number of connections.
- ``fixed_rate``: open loop at a fixed rate. Each call is due at ``start + i / rate`` and its latency is
  measured from when it was due, so a stalled server cannot hide its backlog (no coordinated omission).
- ``cpu_seconds`` / ``memory``: a gunicorn master and its workers as read from /proc (Linux).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}"):read("*a")
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d\\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    non_2xx: int
    socket_errors: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk_run(scratch: Path, url: str, body: bytes, seconds: float, connections: int) -> WrkResult:
    """Drive ``url`` with wrk (2 threads, ``connections`` keep-alive connections) for ``seconds``."""
    body_file = scratch / f"body-{abs(hash(body))}.json"
    body_file.write_bytes(body)
    script = scratch / f"post-{abs(hash(body))}.lua"
    script.write_text(LUA.format(body=body_file))
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                            capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    count, non_2xx, socket_errors, micros = (int(v) for v in line.split()[1:])
    return WrkResult(count, non_2xx, socket_errors, micros / 1e6)


def fixed_rate(port: int, path: str, body: bytes, rate: float, seconds: float, connections: int = 16) -> list[float]:
    """Send ``rate`` calls a second for ``seconds``; return each call's latency in ms (from when it was due).

    Calls that fail count as the time they took; a non-200 answer raises at the end.
    """
    due: queue.Queue[float | None] = queue.Queue()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (when := due.get()) is not None:
            try:
                connection.request("POST", path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                status = f"{type(exc).__name__}"
            took = (time.perf_counter() - when) * 1000
            with lock:
                latencies.append(took)
                if status != 200:
                    failures.append(str(status))
        connection.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.05
    for i in range(int(rate * seconds)):
        when = start + i / rate
        pause = when - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put(when)
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join(timeout=60)
    if failures:
        raise RuntimeError(f"{len(failures)} calls failed at a fixed rate, e.g. {failures[:3]}")
    return latencies


def post_once(port: int, path: str, body: bytes) -> tuple[float, int, bytes]:
    """One call on a new connection: (ms, status, body)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", path, body, {"Content-Type": "application/json", "Connection": "close"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return (time.perf_counter() - started) * 1000, response.status, data


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (all their threads)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def memory(pid: int) -> dict[str, float]:
    """Resident (RSS) and proportional (PSS: shared pages split among the sharers) memory in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return {"rss_mb": rss / 1024, "pss_mb": pss / 1024}


def wait_idle(master: int, workers: int, timeout: float = 60) -> None:
    """Wait until the master has ``workers`` children and they stop using CPU (booted, waiting for calls)."""
    deadline = time.monotonic() + timeout
    last = -1.0
    while time.monotonic() < deadline:
        pids = children(master)
        used = cpu_seconds(pids)
        if len(pids) >= workers and used == last:
            return
        last = used
        time.sleep(0.5)
    raise RuntimeError("gunicorn workers did not settle")


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()
