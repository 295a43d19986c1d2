"""HTTP for the mini-EHR: one session, FHIR headers, a timeout on every call, failures as one-line errors."""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT = (5.0, 30.0)  # seconds: connect, read


class EhrError(Exception):
    """A step of the mini-EHR failed; the message is meant for the developer's terminal."""


def new_session() -> requests.Session:
    """Return an HTTP session that ignores ambient proxy settings (the developer names every server)."""
    session = requests.Session()
    session.trust_env = False
    return session


def fhir_headers(token: str | None) -> dict[str, str]:
    """Return the headers of a FHIR call, with the bearer token when there is one."""
    headers = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def outcome_text(response: requests.Response) -> str:
    """Return the diagnostics of an OperationOutcome body, or the start of whatever body came back."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason or ""
    issues = body.get("issue") if isinstance(body, dict) else None
    if isinstance(issues, list) and issues:
        return "; ".join(str(i.get("diagnostics") or i.get("code") or "") for i in issues if isinstance(i, dict))
    return str(body)[:300]


def send(session: requests.Session, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
    """Make one HTTP call; turn a connection failure or timeout into an EhrError naming ``what``."""
    try:
        return session.request(method, url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)
    except requests.ConnectionError as exc:
        raise EhrError(f"cannot reach {what} at {url}: {_reason(exc)}") from exc
    except requests.Timeout as exc:
        raise EhrError(f"{what} at {url} did not answer in time") from exc
    except requests.RequestException as exc:
        raise EhrError(f"{what} at {url}: {exc}") from exc


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "nodename nor servname", "timed out"):
        if known in text:
            return known.lower()
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
