"""Prometheus metrics: what the service counts, with labels that can never hold patient data.

Every label value comes from a small set fixed at start-up (route names, the services of hooks/ and
their card kinds, the resource types of their prefetch queries, fetch failure reasons); anything else
is counted as "other", so an unknown service id or an odd HTTP method cannot add series. Each app has
a registry of its own, so many apps in one process (the tests) count apart. Under gunicorn, where
``PROMETHEUS_MULTIPROC_DIR`` is set before prometheus_client is first imported, every worker writes its
counts to files in that directory and ``/metrics`` adds up all the workers' files, whichever answers.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .data.fhir_client import FAILURE_REASONS
from .data.observer import UNEXPECTED, resource_type
from .registry import ServiceDefinition

log = logging.getLogger(__name__)

#: A hook call takes 2-50 ms when the EHR prefetches; FHIR callbacks can stretch it to the 5 s deadline.
CALL_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5)
#: One FHIR read or search (its pages included): tens of ms nearby, up to the 3 s timeout and 5 s deadline.
FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
INDICATORS = frozenset({"info", "warning", "critical"})
OUTCOMES = frozenset({"accepted", "overridden"})
SOURCES = frozenset({"provided", "fetched", "failed"})
FETCH_FAILURES = frozenset({*FAILURE_REASONS, UNEXPECTED})


def _never_raises(record: Callable[..., None]) -> Callable[..., None]:
    """Make a recording method log its first failure and carry on: a metric must never fail a hook call."""
    failed_once: list[bool] = []

    @functools.wraps(record)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            record(*args, **kwargs)
        except Exception:  # e.g. an unwritable PROMETHEUS_MULTIPROC_DIR (OSError)
            if not failed_once:
                failed_once.append(True)
                log.warning("metrics: %s failed; counts are incomplete (logged once)", record.__name__,
                            exc_info=True)

    return guarded


class Metrics:
    """The service's metrics in a registry of their own, with one method per thing counted."""

    def __init__(self, services: Iterable[ServiceDefinition]) -> None:
        services = list(services)
        self._services = frozenset(service.id for service in services)
        self._card_kinds = frozenset(kind for service in services for kind in service.card_texts.get("kinds", {}))
        # Medication: referenced by the resources of the other queries, and read by id.
        self._resource_types = frozenset({"Medication", *(
            resource_type(query) for service in services for query in service.prefetch.values())})
        self._multiprocess_dir = _multiprocess_dir()
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self.registry = registry = CollectorRegistry()
        self.http_requests = Counter("b12cds_http_requests", "HTTP requests by route name, method and status.",
                                     ["endpoint", "method", "status"], registry=registry)
        self.hook_calls = Counter("b12cds_hook_calls", "CDS Hooks calls by service and HTTP status.",
                                  ["service", "status"], registry=registry)
        self.hook_call_duration = Histogram("b12cds_hook_call_duration_seconds", "Time to answer a hook call.",
                                            ["service"], buckets=CALL_BUCKETS, registry=registry)
        self.cards = Counter("b12cds_cards", "Cards returned, by service, indicator and kind (source.topic).",
                             ["service", "indicator", "kind"], registry=registry)
        self.fhir_fetch_duration = Histogram(
            "b12cds_fhir_fetch_duration_seconds", "Time of one FHIR read or search (its pages included).",
            ["resource_type"], buckets=FETCH_BUCKETS, registry=registry)
        self.fhir_fetch_failures = Counter("b12cds_fhir_fetch_failures", "Failed FHIR reads or searches, by reason.",
                                           ["resource_type", "reason"], registry=registry)
        self.prefetch_keys = Counter("b12cds_prefetch_keys", "Prefetch keys by source: provided, fetched, failed.",
                                     ["service", "source"], registry=registry)
        self.cards_suppressed = Counter("b12cds_cards_suppressed", "Cards withheld at order-sign: overridden at "
                                        "order-select for the same draft within the window.",
                                        ["service", "kind"], registry=registry)
        self.feedback_items = Counter("b12cds_feedback", "Feedback items received, by outcome.",
                                      ["service", "outcome"], registry=registry)
        # Summed over the live workers (a dead worker's value is dropped); in one process, its own value.
        self.fetch_slots_busy = Gauge("b12cds_fhir_fetch_slots_busy", "FHIR fetch slots (threads) fetching now.",
                                      registry=registry, multiprocess_mode="livesum")
        self.feedback_writes = Counter("b12cds_feedback_writes", "Feedback items stored, or ignored as duplicates.",
                                       ["service", "result"], registry=registry)

    @_never_raises
    def prepare(self) -> None:
        """In a new worker, before it serves: open this process's metric files and create, at zero, the series
        every answered hook call counts (its route, and per service the call, its time and its prefetch).

        Why: in multiprocess mode prometheus_client opens a process's files at its first count after the fork,
        and writes each new series' key into them; a fresh worker's first call paid that (1.7 ms alone, a fifth
        of the call). Nothing is counted: a series at zero reads as none yet (Prometheus's advice for series
        known in advance).
        """
        for _ in self.registry.collect():  # reading a value after the fork opens this process's files
            pass
        self._child(self.http_requests, "cds.call_service", "POST", "200")
        for service in self._services:
            self._child(self.hook_calls, service, "200")
            self._child(self.hook_call_duration, service)
            self._child(self.prefetch_keys, service, "provided")

    @_never_raises
    def http_request(self, endpoint: str | None, method: str, status: int) -> None:
        """Count one HTTP request by route name (never its path: unknown URLs are 'unmatched')."""
        self._child(self.http_requests, endpoint or "unmatched", _one_of(method, METHODS), str(status)).inc()

    @_never_raises
    def hook_call(self, service_id: str | None, status: int, seconds: float,
                  cards: Sequence[Mapping[str, Any]] | None) -> None:
        """Count one hook call, its time and the cards it returned."""
        service = _one_of(service_id, self._services)
        self._child(self.hook_calls, service, str(status)).inc()
        self._child(self.hook_call_duration, service).observe(seconds)
        for card in cards or ():
            kind = ((card.get("source") or {}).get("topic") or {}).get("code")
            self._child(self.cards, service, _one_of(card.get("indicator"), INDICATORS),
                        _one_of(kind, self._card_kinds)).inc()

    @_never_raises
    def suppressed(self, service_id: str, kinds: Iterable[str]) -> None:
        """Count cards withheld as repeats, by kind."""
        service = _one_of(service_id, self._services)
        for kind in kinds:
            self.cards_suppressed.labels(service, _one_of(kind, self._card_kinds)).inc()

    @_never_raises
    def feedback(self, service_id: str, outcomes: Iterable[str], stored: int, duplicates: int) -> None:
        """Count feedback items by outcome, and how many were stored or were duplicates."""
        service = _one_of(service_id, self._services)
        for outcome in outcomes:
            self.feedback_items.labels(service, _one_of(outcome, OUTCOMES)).inc()
        self.feedback_writes.labels(service, "stored").inc(stored)
        self.feedback_writes.labels(service, "duplicate").inc(duplicates)

    @_never_raises
    def fhir_fetch(self, resource_type: str, seconds: float, failure: str | None) -> None:
        """Count one FHIR read or search (the data layer's ``FetchObserver``)."""
        kind = _one_of(resource_type, self._resource_types)
        self.fhir_fetch_duration.labels(kind).observe(seconds)
        if failure is not None:
            self.fhir_fetch_failures.labels(kind, _one_of(failure, FETCH_FAILURES)).inc()

    @_never_raises
    def prefetch_key(self, service_id: str, source: str, keys: int = 1) -> None:
        """Count where ``keys`` prefetch keys' data came from (the data layer's ``FetchObserver``)."""
        self._child(self.prefetch_keys, _one_of(service_id, self._services), _one_of(source, SOURCES)).inc(keys)

    @_never_raises
    def fetch_slots(self, busy: int) -> None:
        """Record how many of this worker's fetch slots are fetching now (the data layer's ``FetchObserver``)."""
        self.fetch_slots_busy.set(busy)

    def _child(self, metric: Any, *labels: str) -> Any:
        """The metric's child for these label values, remembered: ``labels()`` checks and locks on every use,
        a dozen times a call. The label values are the few fixed at start-up, so this stays small."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def exposition(self) -> tuple[bytes, str]:
        """Return every metric in the Prometheus text format (all workers added up), and its content type."""
        registry = self.registry
        if self._multiprocess_dir:
            registry = CollectorRegistry()  # the docs' recipe: a fresh registry holding only the collector
            MultiProcessCollector(registry, path=self._multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def _one_of(value: Any, allowed: frozenset[str]) -> str:
    """Return ``value`` if it is one of the allowed label values, else 'other'.

    >>> _one_of("critical", INDICATORS), _one_of("Patient/123", INDICATORS)
    ('critical', 'other')
    """
    return value if isinstance(value, str) and value in allowed else OTHER


def _multiprocess_dir() -> str | None:
    """Return the directory where gunicorn's workers write their counts, if prometheus_client writes there."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and values.ValueClass is values.MutexValue:
        # prometheus_client picks its mode once, when first imported: this process counts in memory.
        log.warning("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported: "
                    "/metrics shows the counts of this process only")
        return None
    return path
