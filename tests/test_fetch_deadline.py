"""A FHIR server that drips its answer keeps no fetch past the call's deadline, and one call never takes
every fetch slot: calls to a healthy server still get their cards (real loopback servers, bounded in time)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from builders.fhir import patient
from helpers import patient_view_request, searchset, with_fhir_server

from cds_service import create_app

PATIENT = patient("male", "1950-01-01")
#: Longest a dripping connection may stay open in these tests, whatever the service does.
DRIP_LIMIT_SECONDS = 15.0


class LoopbackFhir:
    """A FHIR server on 127.0.0.1 that answers well, or drips its body (or its headers) a byte at a time."""

    def __init__(self, mode: str) -> None:
        self.mode = mode  # "healthy", "drip-body" or "drip-headers"
        self.open = 0  # connections being answered right now
        self.served = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        fhir = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with fhir.lock:
                    fhir.open += 1
                    fhir.served += 1
                try:
                    fhir.answer(self)
                except OSError:
                    pass  # the service hung up: what a deadline should do
                finally:
                    with fhir.lock:
                        fhir.open -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_port}/fhir"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode == "healthy":
            body = json.dumps(PATIENT if "/Patient/" in handler.path else searchset()).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/fhir+json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n"
        started = time.monotonic()
        if self.mode == "drip-body":
            handler.wfile.write(head)
            handler.wfile.flush()
            head = b" " * 100000
        for byte in head:  # one byte every 0.2 s: each read beats any read timeout
            if self.stop.is_set() or time.monotonic() - started > DRIP_LIMIT_SECONDS:
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)

    def wait_until(self, predicate, seconds: float = DRIP_LIMIT_SECONDS) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with self.lock:
                if predicate(self):
                    return True
            time.sleep(0.02)
        return False


@contextmanager
def loopback_fhir(mode: str) -> Iterator[LoopbackFhir]:
    fhir = LoopbackFhir(mode)
    thread = threading.Thread(target=fhir.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fhir
    finally:
        fhir.stop.set()
        fhir.server.shutdown()
        fhir.server.server_close()


def call(client, base: str):
    return client.post("/cds-services/b12-status", json=with_fhir_server(patient_view_request(), base=base))


@pytest.fixture
def loopback_app(app_config):
    # Development with an empty allowlist: loopback FHIR servers only. Each read may take 1 s; the call 1.5 s.
    return create_app({**app_config, "FHIR_SERVER_ALLOWLIST": [], "FHIR_DEADLINE": 1.5,
                       "FHIR_REQUEST_TIMEOUT": 1.0, "FHIR_MAX_CONCURRENCY": 16})


@pytest.mark.parametrize("mode", ["drip-body", "drip-headers"])
def test_a_dripping_server_is_hung_up_on_at_the_deadline(loopback_app, mode):
    with loopback_fhir(mode) as drip:
        response = call(loopback_app.test_client(), drip.base)
        assert response.status_code == 412
        assert "deadline" in response.get_json()["issue"][0]["diagnostics"]
        # Every connection is closed by the service at the deadline, long before the server would stop.
        assert drip.wait_until(lambda fhir: fhir.open == 0, seconds=DRIP_LIMIT_SECONDS / 3)
        assert drip.served > 0


def test_three_dripping_calls_leave_slots_for_a_call_to_a_healthy_server(loopback_app):
    with loopback_fhir("drip-body") as drip, loopback_fhir("healthy") as healthy:
        with ThreadPoolExecutor(max_workers=3) as callers:
            dripping = [callers.submit(call, loopback_app.test_client(), drip.base) for _ in range(3)]
            # The three hold what they may of the worker's 16 slots: 4 a call, 8 for one server...
            assert drip.wait_until(lambda fhir: fhir.open >= 8, seconds=5)
            # ...and a call to a healthy server, meanwhile, still gets its data.
            response = call(loopback_app.test_client(), healthy.base)
            assert response.status_code == 200, response.get_data(as_text=True)
            assert [r.result().status_code for r in dripping] == [412, 412, 412]
        # Afterwards no fetch is left reading from the dripping server, and later calls are served.
        assert drip.wait_until(lambda fhir: fhir.open == 0, seconds=DRIP_LIMIT_SECONDS / 3)
        assert call(loopback_app.test_client(), healthy.base).status_code == 200
