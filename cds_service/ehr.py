"""A minimal EHR for developers: discover a CDS service, prefetch like an EHR, fire a hook, read the cards.

The EHR side of CDS Hooks 2.0 and nothing more: ``GET /cds-services``, the service's prefetch
templates filled from the hook context and run against a FHIR server, ``POST /cds-services/{id}``.
Every HTTP call has a timeout; every failure becomes an ``EhrError`` with a one-line message.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from .ehr_http import EhrError, fhir_headers, outcome_text, send
from .hook_calls import ORDER_HOOKS, hook_context
from .protocol.prefetch_tokens import fill_template

FIRE_SUBJECT = "b12-cds-fire"


@dataclass(frozen=True)
class HookCall:
    """What the clinician did: which hook, for whom, with which draft orders."""

    hook: str
    patient_id: str
    user_id: str
    draft_orders: tuple[dict[str, Any], ...] = ()
    selections: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.hook in ORDER_HOOKS and not self.draft_orders:
            raise EhrError(f"{self.hook} needs at least one draft order (--order FILE)")
        if self.draft_orders and self.hook not in ORDER_HOOKS:
            raise EhrError(f"draft orders (--order) go with order-select or order-sign, not {self.hook}")
        if self.selections and self.hook != "order-select":
            raise EhrError(f"selections (--select) go with order-select only, not {self.hook}")

    def context(self) -> dict[str, Any]:
        """Return the hook context this call sends (see ``hook_calls.hook_context``)."""
        return hook_context(self.hook, patient_id=self.patient_id, user_id=self.user_id,
                            draft_orders=self.draft_orders, selections=self.selections)


@dataclass
class Prefetched:
    """The prefetch an EHR sends, and what it could not fetch (the service will fetch those itself)."""

    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def discover(session: requests.Session, service_url: str) -> list[dict[str, Any]]:
    """Return the services listed by ``GET {service_url}/cds-services``."""
    url = f"{service_url.rstrip('/')}/cds-services"
    response = send(session, "GET", url, what="the CDS service", headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise EhrError(f"discovery {url}: HTTP {response.status_code}: {outcome_text(response)}"
                       + _auth_hint(response.status_code))
    try:
        services = response.json()["services"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EhrError(f"discovery {url}: not a CDS Hooks discovery document") from exc
    return [s for s in services if isinstance(s, dict)]


def choose_service(services: list[dict[str, Any]], hook: str, service_id: str | None) -> dict[str, Any]:
    """Pick the service that answers ``hook`` (or the one named); say what the choices are otherwise."""
    answering = [s for s in services if s.get("hook") == hook]
    if service_id:
        named = [s for s in services if s.get("id") == service_id]
        if not named:
            raise EhrError(f"no service {service_id!r}; the service offers: {_names(services)}")
        if named[0].get("hook") != hook:
            raise EhrError(f"service {service_id!r} answers {named[0].get('hook')}, not {hook}")
        return named[0]
    if len(answering) != 1:
        raise EhrError(f"{len(answering)} services answer {hook} ({_names(answering)}); choose one with --service")
    return answering[0]


def check_patient(session: requests.Session, fhir_base: str, patient_id: str, token: str | None) -> None:
    """Refuse to fire for a patient the FHIR server does not have (an EHR only opens charts it holds)."""
    url = f"{fhir_base.rstrip('/')}/Patient/{quote(patient_id, safe='')}"
    response = send(session, "GET", url, what="the FHIR server", headers=fhir_headers(token))
    if response.status_code in (404, 410):
        raise EhrError(f"Patient/{patient_id} is not on the FHIR server at {fhir_base} "
                       "(load the fixtures with b12-cds load-fixtures)")
    if response.status_code != 200:
        raise EhrError(f"GET {url}: HTTP {response.status_code}: {outcome_text(response)}")


def run_prefetch(session: requests.Session, fhir_base: str, templates: Mapping[str, str],
                 context: Mapping[str, Any], token: str | None) -> Prefetched:
    """Run each prefetch template against the FHIR server; leave out (with a note) what fails."""
    result = Prefetched()
    for key, template in templates.items():
        url = f"{fhir_base.rstrip('/')}/{fill_template(template, context)}"
        try:
            response = send(session, "GET", url, what="the FHIR server", headers=fhir_headers(token))
        except EhrError as exc:
            result.notes.append(f"prefetch {key}: {exc}; left out, the service fetches it itself")
            continue
        if response.status_code != 200:
            result.notes.append(f"prefetch {key}: HTTP {response.status_code} for {url}: {outcome_text(response)}; "
                                "left out, the service fetches it itself")
            continue
        try:
            result.values[key] = response.json()
        except ValueError:
            result.notes.append(f"prefetch {key}: {url} did not answer JSON; left out, the service fetches it itself")
    return result


def build_request(call: HookCall, *, fhir_server: str, token: str | None,
                  prefetch: Mapping[str, Any] | None) -> dict[str, Any]:
    """Build a CDS Hooks 2.0 request with a fresh hookInstance (no prefetch key when ``prefetch`` is None)."""
    request: dict[str, Any] = {"hook": call.hook, "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_server,
                               "context": call.context()}
    if token:
        request["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                        "scope": "patient/*.read", "subject": FIRE_SUBJECT}
    if prefetch is not None:
        request["prefetch"] = dict(prefetch)
    return request


def call_service(session: requests.Session, service_url: str, service_id: str,
                 request: Mapping[str, Any]) -> dict[str, Any]:
    """POST the hook request; return the CDS Hooks response, or raise EhrError with the diagnostics."""
    url = f"{service_url.rstrip('/')}/cds-services/{quote(service_id)}"
    response = send(session, "POST", url, what="the CDS service", json=dict(request),
                    headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise EhrError(f"HTTP {response.status_code} from {url}: {outcome_text(response)}"
                       + _auth_hint(response.status_code))
    try:
        return response.json()
    except ValueError as exc:
        raise EhrError(f"{url} answered 200 without a JSON body") from exc


def _names(services: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s.get('id')} ({s.get('hook')})" for s in services) or "none"


def _auth_hint(status: int) -> str:
    # why: fire sends no JWT; a service with AUTH_REQUIRED=true refuses it, which is no bug of the EHR
    return " (fire sends no JWT: run the service with CDS_AUTH_REQUIRED=false)" if status == 401 else ""
