"""What the data layer reports about its FHIR fetches, for whoever counts them (``cds_service.metrics``).

The data layer only calls an observer; it never imports a metrics library. What it reports is kept
free of patient data by construction: a resource type, seconds, a failure reason from
``fhir_client.FAILURE_REASONS`` and a prefetch source word — never a URL, a query or an id.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from .fhir_client import FetchError

T = TypeVar("T")
RESOURCE_TYPE = re.compile(r"^[A-Za-z]+")
UNEXPECTED = "unexpected"  # the failure reason of a bug, as opposed to a FetchError


class FetchObserver(Protocol):
    """Receives one report per FHIR fetch and per prefetch key of a hook call."""

    def fhir_fetch(self, resource_type: str, seconds: float, failure: str | None) -> None:
        """Report one read or search (with its further pages); ``failure`` is None when it succeeded."""

    def prefetch_key(self, service_id: str, source: str, keys: int = 1) -> None:
        """Report where ``keys`` prefetch keys' data came from: provided, fetched or failed."""

    def fetch_slots(self, busy: int) -> None:
        """Report how many of this worker's fetch slots are fetching now."""


class NoObserver:
    """Report to nobody (the data layer used on its own, as in its tests)."""

    def fhir_fetch(self, resource_type: str, seconds: float, failure: str | None) -> None:
        """Ignore the fetch."""

    def prefetch_key(self, service_id: str, source: str, keys: int = 1) -> None:
        """Ignore the keys."""

    def fetch_slots(self, busy: int) -> None:
        """Ignore the slots."""


def resource_type(query: str) -> str:
    """Return the resource type a relative FHIR query asks for.

    >>> resource_type("Observation?patient=p1&code=http://loinc.org|2132-9")
    'Observation'
    """
    match = RESOURCE_TYPE.match(query)
    return match.group(0) if match else ""


def observed(observer: FetchObserver, query: str, fetch: Callable[..., T], *args: object) -> T:
    """Run ``fetch(*args)`` and report its resource type, duration and failure reason, if any."""
    started = time.perf_counter()
    failure: str | None = UNEXPECTED  # until the fetch returns or raises a FetchError
    try:
        result = fetch(*args)
        failure = None
        return result
    except FetchError as exc:
        failure = exc.reason
        raise
    finally:
        with contextlib.suppress(Exception):  # counting a fetch must never fail (or un-fail) the fetch itself
            observer.fhir_fetch(resource_type(query), time.perf_counter() - started, failure)
