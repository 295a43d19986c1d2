"""CPU per hook call in process (Flask test client, one thread), and one call with 5,000 Observations.

Every fixture call is run --rounds times, each on its scenario's clock; CPU time (process_time) per
call is reported by service. Then the b12-status call of deficient_with_neuropathy with 5,000 blood
count Observations added to its prefetch is timed (wall clock, one thread, nothing else in flight).
Run: .venv/bin/python benchmarks/bench_in_process.py [--rounds 10] [--json]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixture_tools import iter_fixture_calls  # noqa: E402
from helpers import counting_uuids, load_json  # noqa: E402

from cds_service import create_app  # noqa: E402

SCENARIO = ROOT / "fhir_fixtures" / "deficient_with_neuropathy"
#: Alternating haemoglobin (g/dL) and MCV (fL) results, one a day back from the scenario's date.
BLOOD_COUNT = (("718-7", "Hemoglobin [Mass/volume] in Blood", 13.1, "g/dL", "g/dL"),
               ("787-2", "MCV [Entitic volume] by Automated count", 91.0, "fL", "fL"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    args = parser.parse_args()
    clock = {"now": datetime(2026, 9, 1, 9, tzinfo=UTC)}
    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://", "LOG_LEVEL": "ERROR",
                      "CLOCK": lambda: clock["now"], "UUID_FACTORY": counting_uuids()})
    client = app.test_client()
    calls = [(f.evaluated_at, f"/cds-services/{f.service}", json.dumps(load_json(f.request_path)))
             for f in iter_fixture_calls()]
    cpu = _fixture_calls(client, clock, calls, args.rounds)
    large = _large_prefetch(client, clock)
    found = {
        "b12_status_cpu_ms_mean": statistics.fmean(cpu["b12-status"]),
        "b12_status_cpu_ms_median": statistics.median(cpu["b12-status"]),
        "order_sign_cpu_ms_mean": statistics.fmean(cpu["folic-acid-safety-sign"]),
        "order_select_cpu_ms_mean": statistics.fmean(cpu["folic-acid-safety-select"]),
        "observations_5000_ms": large,
        "observations_5000_ms_median": statistics.median(large),
    }
    print(f"{len(calls)} fixture calls x {args.rounds} rounds, CPU ms per call (mean / median / p95):")
    for service, values in sorted(cpu.items()):
        values.sort()
        print(f"  {service:28} {statistics.fmean(values):6.2f} {statistics.median(values):6.2f} "
              f"{values[int(len(values) * 0.95) - 1]:6.2f}")
    print(f"b12-status with 5,000 Observations: {' '.join(f'{v:.1f}' for v in large)} ms (median "
          f"{found['observations_5000_ms_median']:.1f})")
    if args.json:
        print(json.dumps(found))


def _fixture_calls(client: Any, clock: dict[str, datetime], calls: list[tuple[datetime, str, str]],
                   rounds: int) -> dict[str, list[float]]:
    for when, path, body in calls:  # first calls: imports and caches, not counted
        clock["now"] = when
        client.post(path, data=body, content_type="application/json")
    cpu: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for when, path, body in calls:
            clock["now"] = when
            started = time.process_time()
            response = client.post(path, data=body, content_type="application/json")
            cpu[path.rsplit("/", 1)[1]].append((time.process_time() - started) * 1000)
            if response.status_code != 200:
                sys.exit(f"{path}: {response.status_code}")
    return cpu


def _large_prefetch(client: Any, clock: dict[str, datetime], count: int = 5000) -> list[float]:
    body = load_json(SCENARIO / "b12-status.request.json")
    clock["now"] = datetime.fromisoformat(load_json(SCENARIO / "scenario.json")["evaluatedAt"]).replace(
        hour=9, tzinfo=UTC)
    patient = body["context"]["patientId"]
    bundle = body["prefetch"]["bloodCount"]
    extra = [_observation(i, patient, clock["now"]) for i in range(count)]
    bundle["entry"] = [*copy.deepcopy(bundle["entry"]), *({"resource": r} for r in extra)]
    data = json.dumps(body)
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        response = client.post("/cds-services/b12-status", data=data, content_type="application/json")
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            sys.exit(f"5,000 Observations: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return timings


def _observation(i: int, patient: str, now: datetime) -> dict[str, Any]:
    code, display, value, unit, ucum = BLOOD_COUNT[i % 2]
    when = (now - timedelta(days=30 + i // 2)).isoformat().replace("+00:00", "Z")
    return {"resourceType": "Observation", "id": f"bench-{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": ucum}}


if __name__ == "__main__":
    main()
