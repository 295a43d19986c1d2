"""Call back the EHR's FHIR server for one hook call: bounded in time, size and pages.

Every wait is bounded: each request by ``request_timeout`` and by what is left of the call's
deadline (its ``CallGuard``). At the deadline the guard shuts the sockets still in use (with the
``deadline.GuardedAdapter`` on the session), so a server that drips its headers or body a byte at a
time, each byte beating the read timeout, is hung up on all the same; an endless body stops at the size
cap. Pagination follows ``next`` links only on the same server, so the bearer token never leaves it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from .deadline import CallGuard, guarding

CHUNK_BYTES = 64 * 1024


#: Why a fetch failed, in a few fixed words (metrics count by them; the message says more).
FAILURE_REASONS = ("deadline", "timeout", "connection", "redirect", "http_401", "http_403", "http_4xx",
                   "http_5xx", "http_other", "too_large", "invalid_body", "search_error")


class FetchError(Exception):
    """A FHIR fetch failed; the message is safe to show (no token, no patient data)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # one of FAILURE_REASONS


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on the FHIR callbacks of one hook call."""

    request_timeout: float = 3.0
    max_pages: int = 10
    max_resources: int = 2000
    max_bytes: int = 10_000_000


@dataclass
class SearchResult:
    """Resources of one search (match and include entries), and whether paging stopped early."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    truncated: str | None = None  # why we stopped before the last page, if we did


class FhirClient:
    """A FHIR R4 REST client bound to one server, one access token and one deadline."""

    def __init__(self, session: requests.Session, base_url: str, access_token: str | None,
                 limits: FetchLimits, deadline: float | CallGuard) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._token = access_token
        self._limits = limits
        self._guard = deadline if isinstance(deadline, CallGuard) else CallGuard(deadline)
        self._deadline = self._guard.deadline

    def read(self, path: str) -> dict[str, Any] | None:
        """GET ``{base}/{Type}/{id}``; None when the server has no such resource (404/410)."""
        status, body = self._get(f"{self.base_url}/{path}")
        if status in (404, 410):
            return None
        _raise_for_status(status)
        expected = path.split("/", 1)[0]
        if body.get("resourceType") != expected:
            raise FetchError(f"expected a {expected}, got {body.get('resourceType')!r}", "invalid_body")
        return body

    def search(self, path: str, *, first_page_only: bool = False) -> SearchResult:
        """GET ``{base}/{Type}?{params}`` and follow ``next`` links within the limits (unless the first page
        suffices)."""
        status, body = self._get(f"{self.base_url}/{path}")
        _raise_for_status(status)
        return self.collect(body, first_page_only=first_page_only)

    def collect(self, bundle: dict[str, Any], *, first_page_only: bool = False) -> SearchResult:
        """Take the resources of a searchset Bundle and of its further pages (none if the first suffices)."""
        result = SearchResult()
        pages = 1
        while True:
            _expect_bundle(bundle)
            resources = searchset_resources(bundle)
            if resources is None:
                raise FetchError("the FHIR server reported an error in the search results", "search_error")
            result.resources.extend(resources)
            next_url = next_link(bundle)
            if next_url is None or first_page_only:
                return result
            if len(result.resources) >= self._limits.max_resources:
                result.truncated = f"stopped at {self._limits.max_resources} resources"
                return result
            if pages >= self._limits.max_pages:
                result.truncated = f"stopped after {self._limits.max_pages} pages"
                return result
            if not next_url.startswith(self.base_url + "/") and not next_url.startswith(self.base_url + "?"):
                result.truncated = "the next page is on another server; not followed"
                return result
            status, bundle = self._get(next_url)
            _raise_for_status(status)
            pages += 1

    def _get(self, url: str) -> tuple[int, dict[str, Any]]:
        """GET a URL as FHIR JSON within the deadline and the size cap."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or self._guard.expired:
            raise FetchError("the deadline for FHIR fetches passed", "deadline")
        timeout = min(self._limits.request_timeout, remaining)
        headers = {"Accept": "application/fhir+json, application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            with guarding(self._guard), self._session.get(
                    url, headers=headers, timeout=(timeout, timeout), stream=True, allow_redirects=False) as response:
                raw = self._read_body(response)
                status = response.status_code
        except requests.Timeout:
            raise self._past_deadline() or FetchError(f"no answer within {timeout:.1f} s", "timeout") from None
        except requests.RequestException as exc:
            raise self._past_deadline() or FetchError(
                f"could not reach the FHIR server ({type(exc).__name__})", "connection") from None
        if 300 <= status < 400:
            raise FetchError(f"HTTP {status} redirect; redirects are not followed", "redirect")
        if status != 200:
            return status, {}
        return status, _decode(raw)

    def _past_deadline(self) -> FetchError | None:
        """The error to report when the deadline (not the server) ended a request."""
        if self._guard.expired:
            return FetchError("the deadline for FHIR fetches passed while waiting for the FHIR server", "deadline")
        return None

    def _read_body(self, response: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > self._limits.max_bytes:
                raise FetchError(f"response larger than {self._limits.max_bytes} bytes", "too_large")
            if self._guard.expired:
                break
            chunks.append(chunk)
        if self._guard.expired:  # the body may look complete only because the socket was shut
            raise FetchError("the deadline for FHIR fetches passed while reading", "deadline")
        return b"".join(chunks)


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the resources of a Bundle's entries, leaving out search outcome messages."""
    resources = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        search = entry.get("search")
        if search and search.get("mode") == "outcome":
            continue
        resources.append(resource)
    return resources


def search_failed(bundle: dict[str, Any]) -> bool:
    """True when a searchset carries an OperationOutcome with an error or fatal issue (partial results)."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if (isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome"
                and _reports_error(resource)):
            return True
    return False


def searchset_resources(bundle: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Return ``bundle_resources(bundle)``, or None when ``search_failed(bundle)``, in one walk of the entries.

    Why: every prefetched or fetched searchset was walked twice (and the failure check came first, so an
    error anywhere in the Bundle wins over what the resource walk would make of an earlier entry). One walk
    gives the same answers: an entry whose ``search`` is something other than an object (which
    ``bundle_resources`` cannot read) hands the whole Bundle to the two walks, which answer or raise as before
    (``tests/test_data_fast_paths.py`` compares them over varied and malformed Bundles).
    """
    resources = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            continue
        if kind == "OperationOutcome" and _reports_error(resource):
            return None
        search = entry.get("search")
        if search:
            if not isinstance(search, dict):
                return None if search_failed(bundle) else bundle_resources(bundle)
            if search.get("mode") == "outcome":
                continue
        resources.append(resource)
    return resources


def _reports_error(outcome: dict[str, Any]) -> bool:
    """True when an OperationOutcome has an issue of severity error or fatal."""
    return any(isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in outcome.get("issue") or [])


def next_link(bundle: dict[str, Any]) -> str | None:
    """Return the Bundle's ``next`` page URL, if any."""
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return link["url"]
    return None


def _expect_bundle(body: dict[str, Any]) -> None:
    if body.get("resourceType") != "Bundle":
        raise FetchError(f"expected a Bundle, got {body.get('resourceType')!r}", "invalid_body")


def _raise_for_status(status: int) -> None:
    if status != 200:
        meaning = {401: "unauthorised", 403: "forbidden", 404: "not found"}.get(status, "error")
        raise FetchError(f"HTTP {status} ({meaning})", _status_reason(status))


def _status_reason(status: int) -> str:
    if status in (401, 403):
        return f"http_{status}"  # the token was refused: worth telling apart from other client errors
    return {4: "http_4xx", 5: "http_5xx"}.get(status // 100, "http_other")


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise FetchError("the FHIR server answered with malformed JSON", "invalid_body") from None
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise FetchError("the FHIR server answered with something that is not a FHIR resource", "invalid_body")
    return body
