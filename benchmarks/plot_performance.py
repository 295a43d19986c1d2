"""Draw docs/performance/performance.png from bench_vs_noop.py's JSON results (the `bench` extra).

Run: .venv/bin/python benchmarks/plot_performance.py docs/performance/baseline.json docs/performance/after.json
     [--models docs/performance/gthread-2x8-wc8.json ...] [--out docs/performance/performance.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CALLS = ("b12-status", "order-sign")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--models", type=Path, nargs="*", default=[], help="other worker models, same load")
    parser.add_argument("--out", type=Path, default=Path("docs/performance/performance.png"))
    args = parser.parse_args()
    runs = {"before": _load(args.before), "after": _load(args.after)}
    figure, axes = plt.subplots(1, 4 if args.models else 3, figsize=(17 if args.models else 13, 4.2))
    _bars(axes[0], "throughput ratio to the no-op (target ≥ 0.25)",
          {name: [_ratio(run, call) for call in CALLS] for name, run in runs.items()}, CALLS, target=0.25)
    _bars(axes[1], "server CPU ms per call",
          {name: [_median(run["throughput"][f"b12-cds {call}"], "cpu_ms_per_call") for call in CALLS]
           for name, run in runs.items()}, CALLS)
    quantiles = ("p50", "p95", "p99")
    _bars(axes[2], "b12-status at 100 calls/s, ms (target p99 ≤ 50)",
          {name: [_median(run["fixed_rate"]["b12-cds b12-status"], q) for q in quantiles]
           for name, run in runs.items()}, quantiles, target=50, log=True)
    if args.models:
        models = [runs["after"], *(_load(path) for path in args.models)]
        _bars(axes[3], "worker models: ratio to the no-op",
              {run["settings"]["label"]: [_ratio(run, call) for call in CALLS] for run in models}, CALLS)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def _ratio(run: dict[str, Any], call: str) -> float:
    put = run["throughput"]
    return statistics.median(row["rate"] / noop["rate"]
                             for row, noop in zip(put[f"b12-cds {call}"], put[f"no-op {call}"], strict=True))


def _bars(axis: Any, title: str, series: dict[str, list[float]], groups: tuple[str, ...], *,
          target: float | None = None, log: bool = False) -> None:
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        positions = [g + i * width for g in range(len(groups))]
        bars = axis.bar(positions, values, width, label=name)
        axis.bar_label(bars, fmt="%.3g", fontsize=7)
    axis.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups)
    if target is not None:
        axis.axhline(target, color="grey", linestyle="--", linewidth=1)
    if log:
        axis.set_yscale("log")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7)


if __name__ == "__main__":
    main()
