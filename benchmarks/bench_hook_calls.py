"""Benchmark hook calls in process: every fixture request through the full stack, repeated.

Reports latency percentiles per service (prefetch supplied: parsing, chart, rules, cards, JSON).
Run: .venv/bin/python benchmarks/bench_hook_calls.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixture_tools import iter_fixture_calls  # noqa: E402
from helpers import counting_uuids, load_json  # noqa: E402

from cds_service import create_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    calls = [(f, load_json(f.request_path)) for f in iter_fixture_calls()]
    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://", "LOG_LEVEL": "WARNING",
                      "CLOCK": lambda: calls[0][0].evaluated_at, "UUID_FACTORY": counting_uuids()})
    client = app.test_client()
    for fixture, body in calls:  # warm-up: imports, knowledge caches
        client.post(f"/cds-services/{fixture.service}", json=body)
    timings: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for fixture, body in calls:
            started = time.perf_counter()
            response = client.post(f"/cds-services/{fixture.service}", json=body)
            timings[fixture.service].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    print(f"{len(calls)} fixture calls x {rounds} rounds, in process (Flask test client), one thread")
    print(f"{'service':28} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for service, values in sorted(timings.items()):
        values.sort()
        p95 = values[int(len(values) * 0.95) - 1]
        print(f"{service:28} {len(values):6d} {statistics.median(values):8.2f} {p95:8.2f} {values[-1]:8.2f}")


if __name__ == "__main__":
    main()
