"""Benchmark one large feedback POST in process: parse, validate and store N items (SQLite file).

Run: .venv/bin/python benchmarks/bench_feedback.py [--items 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from cds_service import create_app  # noqa: E402


def item(card: str) -> dict:
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-09-01T09:06:00Z",
            "overrideReason": {"reason": {"code": "already-arranged"}, "userComment": "given in clinic"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    seconds = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            app = create_app({"AUTH_REQUIRED": False, "LOG_LEVEL": "WARNING", "MAX_FEEDBACK_ITEMS": args.items,
                              "FEEDBACK_DATABASE_URL": f"sqlite:///{folder}/feedback.sqlite3"})
            body = {"feedback": [item(str(uuid.uuid4())) for _ in range(args.items)]}
            started = time.perf_counter()
            response = app.test_client().post("/cds-services/b12-status/feedback", json=body)
            seconds.append(time.perf_counter() - started)
            assert response.status_code == 200, response.get_json()
    print(f"{args.items} feedback items in one POST: median {statistics.median(seconds):.2f} s "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
