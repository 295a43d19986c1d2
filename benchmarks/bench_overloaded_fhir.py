"""Concurrent no-prefetch calls against a FHIR server that slows down with load, in process.

The server answers each request in ``--per-request`` seconds times the requests it has in flight (one
core's worth of capacity: throughput stays the same, each answer takes longer). The chart has 39 eGFRs,
so renalFunction (``_count=10``) takes four pages one after another. Reported: one call alone, then
``--calls`` at once, each with its status and time, and the most requests the server had in flight.

This reproduces "four concurrent patient-view calls on a chart with 39 eGFRs all got 412 while one alone
succeeded": with every call getting a part of the slots, all of them missed the deadline together.
Run: .venv/bin/python benchmarks/bench_overloaded_fhir.py [--per-request 0.2] [--calls 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from cds_service import create_app  # noqa: E402

PATIENT = {"resourceType": "Patient", "id": "eg-1", "gender": "female", "birthDate": "1950-02-03"}
EGFR = [{"resourceType": "Observation", "id": f"egfr-{i}", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "62238-1"}]},
         "subject": {"reference": "Patient/eg-1"},
         "effectiveDateTime": (date.today() - timedelta(days=30 * i)).isoformat(),
         "valueQuantity": {"value": 55, "unit": "mL/min/{1.73_m2}", "system": "http://unitsofmeasure.org",
                           "code": "mL/min/{1.73_m2}"}} for i in range(39)]


class LoadedServer:
    """Each answer takes per_request x the requests in flight; searches page with ``_offset``."""

    def __init__(self, per_request: float) -> None:
        self.per_request, self.in_flight, self.most = per_request, 0, 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/fhir"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            load = self.in_flight
        time.sleep(self.per_request * load)
        data = json.dumps(self.body(handler.path)).encode()
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/fhir+json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the service gave up at its deadline
        finally:
            with self.lock:
                self.in_flight -= 1

    def body(self, path: str) -> dict[str, Any]:
        parts = urlsplit(path)
        if "/Patient/" in parts.path:
            return PATIENT
        query = parse_qs(parts.query)
        found = EGFR if "62238-1" in query.get("code", [""])[0] else []
        offset, count = int(query.get("_offset", ["0"])[0]), int(query.get("_count", ["50"])[0])
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                  "entry": [{"resource": r} for r in found[offset:offset + count]]}
        if offset + count < len(found):
            next_url = f"{self.base}{parts.path.removeprefix('/fhir')}?{parts.query}&_offset={offset + count}"
            bundle["link"] = [{"relation": "next", "url": next_url}]
        return bundle


def run(app: Any, base: str, calls: int) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = [(0, 0.0)] * calls

    def call(index: int) -> None:
        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()), "fhirServer": base,
                "context": {"userId": "Practitioner/1", "patientId": "eg-1"}}
        started = time.perf_counter()
        status = app.test_client().post("/cds-services/b12-status", json=body).status_code
        results[index] = (status, round(time.perf_counter() - started, 2))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-request", type=float, default=0.2)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deadline", type=float, default=5.0)
    args = parser.parse_args()
    server = LoadedServer(args.per_request)
    app = create_app({"AUTH_REQUIRED": False, "FEEDBACK_DATABASE_URL": "sqlite://", "LOG_LEVEL": "ERROR",
                      "FHIR_SERVER_ALLOWLIST": [], "FHIR_DEADLINE": args.deadline})
    for _ in range(args.rounds):
        alone = run(app, server.base, 1)
        time.sleep(args.deadline)  # the server finishes what was abandoned
        server.most = 0
        together = run(app, server.base, args.calls)
        print(f"alone: {alone}; {args.calls} at once: {together} "
              f"({sum(status == 200 for status, _ in together)} of {args.calls} got 200; "
              f"server had up to {server.most} requests in flight)", flush=True)
        time.sleep(args.deadline)


if __name__ == "__main__":
    main()
