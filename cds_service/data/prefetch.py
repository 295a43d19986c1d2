"""Resolve a service's prefetch key by key: use what the EHR sent, fetch what it did not.

CDS Hooks 2.0 §Prefetch: a key that is present is used; ``null`` means the EHR found nothing
(no refetch); an empty searchset means no data; an OperationOutcome means the EHR failed that
key; an absent or failed key is fetched from ``fhirServer`` with the bearer token. Data that is
needed and cannot be had is a 412.

The allowlist is checked when a request is about to be sent, not before: a complete prefetch is answered
whatever ``fhirServer`` says, and nothing is ever sent to a server off the list. Required data that would
need such a server is a 403; optional data is missing, with a note.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import requests

from ..errors import InvalidRequest, PrefetchUnavailable
from ..memo import BoundedMemo
from ..protocol.prefetch_tokens import fill_template, template_tokens, token_values
from ..protocol.request import OrderSignContext, ParsedCall
from .allowlist import ForbiddenServer, ServerPolicy
from .deadline import WATCHDOG, CallGuard
from .fhir_client import (
    FetchError,
    FetchLimits,
    FhirClient,
    SearchResult,
    bundle_resources,
    next_link,
    searchset_resources,
)
from .medications import medications_at_hand
from .needs import PrefetchNeeds
from .observer import FetchObserver, NoObserver, observed
from .slots import CallSlots, FetchPool, SlotCount

#: Seconds a task may overrun the deadline before it is given up for lost (it stops itself soon after).
GRACE_SECONDS = 0.25
READ_QUERY = re.compile(r"^([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


@dataclass
class PatientData:
    """What the service knows for one call, by prefetch key, before any clinical reading."""

    by_key: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Medication/<id>" -> resource
    draft_orders: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # optional key -> why it could not be had
    provenance: dict[str, str] = field(default_factory=dict)  # key -> prefetch | null | fetched
    notes: list[str] = field(default_factory=list)  # data-quality notes safe to show a clinician

    def resources(self) -> list[dict[str, Any]]:
        """Return every resource once, whatever key it came from (the first of each Type/id, in order)."""
        seen: dict[str, set[str]] = {}  # the ids seen, per type: no (type, id) tuple made per resource
        first, anonymous = [], []
        for resources in self.by_key.values():
            for resource in resources:
                rid = resource.get("id")
                if not isinstance(rid, str):
                    anonymous.append(resource)
                    continue
                ids = seen.get(resource["resourceType"])
                if ids is None:
                    ids = seen[resource["resourceType"]] = set()
                elif rid in ids:
                    continue
                ids.add(rid)
                first.append(resource)
        return [*first, *anonymous]


@dataclass(frozen=True)
class FetchSettings:
    """Everything the data layer needs to call back a FHIR server."""

    session: requests.Session
    executor: Executor | FetchPool  # the worker's fetch threads (FetchPool: earliest call deadline first)
    limits: FetchLimits
    deadline_seconds: float
    servers: ServerPolicy = field(default_factory=lambda: ServerPolicy((), development=True))
    observer: FetchObserver = field(default_factory=NoObserver)  # the app's metrics
    slots_per_call: int = 4  # of the executor's threads, at most this many run one call's fetches at once
    slots_busy: SlotCount = field(default_factory=SlotCount)  # the executor's threads fetching now


def resolve(service: PrefetchNeeds, call: ParsedCall, settings: FetchSettings) -> PatientData:
    """Resolve every prefetch key of ``service`` for ``call``; raise 412 if required data is missing.

    Raise 403 (``ForbiddenServer``) when required data would have to come from a server off the allowlist.
    """
    fetcher = _Fetcher(call, settings)
    data = PatientData(draft_orders=_draft_orders(call))
    provided = call.request.prefetch or {}
    failures: dict[str, str] = {}
    pending: dict[str, Future[Any]] = {}
    reads: set[str] = set()  # keys whose query is an instance read: finding nothing there is a failure
    patient_id, newest_page_keys = call.context.patientId, service.newest_page_keys
    # Why iter: dict(model) looks for a ``keys`` attribute first, and a context member named "keys" (the context
    # models keep unknown members) made it call that member's value: a 500. The model's items are its fields.
    for key, query, read_type in _queries(service.prefetch, dict(iter(call.context))):
        if read_type is not None:
            reads.add(key)
        if key in provided:
            outcome = _use_provided(key, provided[key], patient_id, follow_pages=key not in newest_page_keys,
                                    read_type=read_type)
            if outcome.resources is not None:
                data.by_key[key] = outcome.resources
                data.provenance[key] = outcome.provenance
                if outcome.next_bundle is not None:
                    pending[key] = _submit_pages(fetcher, outcome.next_bundle, data, key, query)
                continue
            failures[key] = outcome.reason
        if fetcher.client is None:
            failures[key] = f"{failures.get(key, 'not prefetched')}; {fetcher.why_not}"
            continue
        failures.pop(key, None)
        pending[key] = fetcher.submit(query, _fetch, fetcher.client, query, key in newest_page_keys)
    _collect(pending, fetcher.deadline, data, failures, patient_id, reads)
    _fetch_medications(data, fetcher)
    _report_sources(settings.observer, service, data, failures)
    _settle_failures(service, data, failures, fetcher.refused)
    return data


#: One prefetch key's query for one call: (key, filled query, resource type if the query is an instance read).
_Query = tuple[str, str, str | None]


def _queries(templates: Mapping[str, str], context: Mapping[str, object]) -> tuple[_Query, ...]:
    """Return each prefetch key's filled query and read type, in the templates' order.

    Why remembered: a service fills the same templates on every call, and the filled queries depend only on
    the context values its tokens name (a call for a patient seen before reuses them). The fill itself is
    :func:`fill_template`'s, once per distinct set of those values; bounded, as requests bring any values.
    """
    plan = _plan(tuple(templates.items()))
    values = token_values(plan.tokens, context)
    return plan.filled.get(values, lambda: tuple(
        (key, query, _read_type(query))
        for key, query in ((key, fill_template(template, context)) for key, template in plan.templates)))


@dataclass
class _Plan:
    templates: tuple[tuple[str, str], ...]
    tokens: tuple[tuple[str, bool], ...]  # what a fill reads of the context (``template_tokens``)
    filled: BoundedMemo[tuple[_Query, ...]] = field(default_factory=lambda: BoundedMemo(1024))  # by token values


@functools.lru_cache(maxsize=64)  # per service's templates: a handful
def _plan(templates: tuple[tuple[str, str], ...]) -> _Plan:
    return _Plan(templates, template_tokens(template for _, template in templates))


def _read_type(query: str) -> str | None:
    read = READ_QUERY.match(query)
    return read.group(1) if read else None


class _Fetcher:
    """One call's way to its FHIR server: the client (if the server may be called), deadline and slots."""

    def __init__(self, call: ParsedCall, settings: FetchSettings) -> None:
        self.deadline = time.monotonic() + settings.deadline_seconds
        self.settings = settings
        self.client: FhirClient | None = None
        self.refused: ForbiddenServer | None = None  # fhirServer is off the allowlist: nothing goes there
        self.why_not = "no fhirServer to fetch it from"
        request = call.request
        if not request.fhir_base:
            return
        try:
            settings.servers.check(request.fhir_base)
        except ForbiddenServer as exc:
            self.refused = exc
            self.why_not = "fhirServer is not one this service may call; nothing was sent there"
            return
        guard = CallGuard(self.deadline)
        WATCHDOG.watch(guard)  # at the deadline, every connection of this call is shut
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        self.client = FhirClient(settings.session, request.fhir_base, token, settings.limits, guard)
        self._slots = CallSlots(settings.executor, settings.slots_per_call, self.deadline, settings.slots_busy,
                                settings.observer.fetch_slots, server=self.client.base_url)

    def submit(self, query: str, fetch: Any, *args: Any) -> Future[Any]:
        """Run one fetch in this call's share of the worker's slots, reported to the observer."""
        return self._slots.submit(observed, self.settings.observer, query, fetch, *args)


class _Provided(NamedTuple):  # a named tuple, not a frozen dataclass: one per prefetch key and call
    resources: list[dict[str, Any]] | None
    provenance: str = "prefetch"
    reason: str = ""
    next_bundle: dict[str, Any] | None = None


def _use_provided(key: str, value: Any, patient_id: str, *, follow_pages: bool = True,
                  read_type: str | None) -> _Provided:
    """Classify one prefetch value sent by the EHR (``follow_pages``: its further pages count, if any);
    ``read_type`` is the resource type the key's query reads, None for a search (``_read_type``).

    A Bundle's entries are walked once (``searchset_resources``), and the patient check reads only the
    resources kept, none for an empty searchset (most keys of a usual call).
    """
    if value is None:
        return _Provided([], provenance="null")
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise InvalidRequest(f"prefetch.{key} must be a FHIR resource or null", expression=[f"prefetch.{key}"])
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        return _Provided(None, reason="the EHR reported that this prefetch failed")
    if read_type and kind == read_type:
        resources: list[dict[str, Any]] | None = [value]
    elif kind == "Bundle":
        resources = searchset_resources(value)
        if resources is None:
            return _Provided(None, reason="the EHR's search reported an error (OperationOutcome in the Bundle)")
    else:
        return _Provided(None, reason=f"expected {read_type if read_type else 'a Bundle'}, got {kind}")
    if resources:
        stranger = _other_patient(resources, patient_id)
        if stranger:
            raise InvalidRequest(f"prefetch.{key} holds {stranger}, which belongs to another patient",
                                 expression=[f"prefetch.{key}"])
        if read_type and kind == "Bundle":
            resources = [r for r in resources if r["resourceType"] == read_type]
    more = follow_pages and kind == "Bundle" and next_link(value) is not None
    return _Provided(resources, next_bundle=value if more else None)


def _other_patient(resources: list[dict[str, Any]], patient_id: str) -> str | None:
    """Name the first resource that is plainly about another patient (a wrong-patient card is the worst)."""
    own = f"Patient/{patient_id}"  # the usual reference, accepted at once (the test below accepts it too)
    for resource in resources:
        if resource["resourceType"] == "Patient":
            if resource.get("id") not in (None, patient_id):
                return f"Patient/{resource.get('id')}"
            continue
        subject = resource.get("subject") or resource.get("patient")
        reference = subject.get("reference") if isinstance(subject, dict) else None
        if reference == own:
            continue
        if (isinstance(reference, str) and "Patient/" in reference
                and reference.rsplit("Patient/", 1)[1].split("/")[0] != patient_id):
            return f"{resource['resourceType']}/{resource.get('id', '?')}"
    return None


def _submit_pages(fetcher: _Fetcher, bundle: dict[str, Any], data: PatientData, key: str,
                  query: str) -> Future[Any]:
    """Follow the further pages of a prefetched Bundle (the first page is already in ``data``)."""
    if fetcher.client is None:
        data.notes.append(f"{key}: the prefetch has further pages, not fetched ({fetcher.why_not})")
        done: Future[Any] = Future()
        done.set_result(SearchResult(resources=bundle_resources(bundle)))
        return done
    return fetcher.submit(query, fetcher.client.collect, bundle)


def _fetch(client: FhirClient, query: str, first_page_only: bool = False) -> SearchResult:
    """Run one prefetch query against the FHIR server (a read yields zero or one resource)."""
    if READ_QUERY.match(query):
        resource = client.read(query)
        return SearchResult(resources=[resource] if resource else [])
    return client.search(query, first_page_only=first_page_only)


def _collect(pending: dict[str, Future[Any]], deadline: float, data: PatientData,
             failures: dict[str, str], patient_id: str, reads: set[str]) -> None:
    """Wait for the fetches (all within one deadline) and file each result or failure by key."""
    if pending:  # a complete prefetch has nothing to wait for
        wait(pending.values(), timeout=max(0.0, deadline - time.monotonic()) + GRACE_SECONDS)
    for key, future in pending.items():
        if not future.done():
            future.cancel()
            failures[key] = "no answer before the deadline"
            continue
        try:
            result: SearchResult = future.result()
        except FetchError as exc:
            failures[key] = str(exc)
            continue
        stranger = _other_patient(result.resources, patient_id)
        if stranger:
            failures[key] = f"the FHIR server returned {stranger}, which belongs to another patient"
            continue
        if key in reads and not result.resources:
            # Why: an empty search is an answer ("no such results"), but a read that finds nothing means the
            # EHR's context names something its own FHIR server does not hold: say so, never decide blind.
            failures[key] = "not found on the FHIR server"
            continue
        data.by_key[key] = result.resources
        data.provenance.setdefault(key, "fetched")
        if result.truncated:
            data.notes.append(f"{key}: {result.truncated}; older or further results may be missing")


def _fetch_medications(data: PatientData, fetcher: _Fetcher) -> None:
    """Resolve ``medicationReference``s not contained and not included in the search results."""
    held, wanted = medications_at_hand(data.resources() + data.draft_orders)
    data.medications.update(held)
    if not wanted:
        return
    if fetcher.client is None:
        data.notes.extend(f"{ref} is referenced but was not included; {fetcher.why_not}" for ref in wanted)
        return
    futures = {ref: fetcher.submit(ref, fetcher.client.read, ref) for ref in wanted}
    wait(futures.values(), timeout=max(0.0, fetcher.deadline - time.monotonic()) + GRACE_SECONDS)
    for ref, future in futures.items():
        if not future.done():
            future.cancel()
        try:
            medication = future.result(timeout=0) if future.done() and not future.cancelled() else None
        except FetchError as exc:
            data.notes.append(f"{ref} could not be read ({exc})")
            continue
        if medication is None:
            data.notes.append(f"{ref} could not be read (not found or no answer in time)")
        else:
            data.medications[ref] = medication


def _report_sources(observer: FetchObserver, service: PrefetchNeeds, data: PatientData,
                    failures: dict[str, str]) -> None:
    """Report each key as provided (by the EHR, ``null`` and empty included), fetched or failed.

    One report per source, with its number of keys: in multiprocess mode each count is a locked write to
    a shared file, and a call with its prefetch complete made nine of them, all "provided".
    """
    sources: dict[str, int] = {}  # as a Counter would count them (same order), without its cost
    provenance = data.provenance
    for key in service.prefetch:
        source = "failed" if key in failures else "fetched" if provenance.get(key) == "fetched" else "provided"
        sources[source] = sources.get(source, 0) + 1
    for source, keys in sources.items():
        observer.prefetch_key(service.id, source, keys)


def _settle_failures(service: PrefetchNeeds, data: PatientData, failures: dict[str, str],
                     refused: ForbiddenServer | None) -> None:
    """Raise 403 when required data would need a server off the allowlist, 412 for other required keys that
    failed; record optional ones as missing."""
    required = {key: why for key, why in failures.items() if key in service.required_keys}
    if required and refused is not None:
        raise refused
    if required:
        detail = "; ".join(f"{key}: {why}" for key, why in sorted(required.items()))
        raise PrefetchUnavailable(f"required data could not be obtained — {detail}",
                                  expression=[f"prefetch.{key}" for key in sorted(required)])
    for key, why in failures.items():
        data.missing[key] = why


def _draft_orders(call: ParsedCall) -> list[dict[str, Any]]:
    """Draft orders are not on the FHIR server yet: they come from the context only."""
    if isinstance(call.context, OrderSignContext):
        return call.context.draftOrders.resources()
    return []
