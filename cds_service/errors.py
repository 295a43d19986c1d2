"""Typed errors; one handler (``api.py``) turns each into an OperationOutcome response."""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """A setting, hooks file or knowledge file is invalid: the service refuses to start."""


class CDSError(Exception):
    """An error with an HTTP status and a FHIR issue type (OperationOutcome.issue.code)."""

    status: int = 500
    issue_code: str = "exception"

    def __init__(self, message: str, *, expression: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression or []

    def to_operation_outcome(self) -> dict[str, Any]:
        """Render as a FHIR R4 OperationOutcome naming the problem (and the field, if known)."""
        return operation_outcome(self.message, code=self.issue_code, expression=self.expression)


class InvalidRequest(CDSError):
    """Malformed JSON, missing or wrong fields, or a hook that is not the service's."""

    status = 400
    issue_code = "invalid"


class Unauthorized(CDSError):
    """Authentication failed; the message never says why (CDS Hooks 2.0 security)."""

    status = 401
    issue_code = "login"


class UnknownService(CDSError):
    """No CDS service has this id."""

    status = 404
    issue_code = "not-found"


class PrefetchUnavailable(CDSError):
    """Data the service needs could not be had from the prefetch or the FHIR server."""

    status = 412
    issue_code = "incomplete"


class PayloadTooLarge(CDSError):
    """The request body is over the configured limit."""

    status = 413
    issue_code = "too-costly"


class UnsupportedMediaType(CDSError):
    """The body is not JSON."""

    status = 415
    issue_code = "not-supported"


class ServiceUnavailable(CDSError):
    """A dependency (the feedback store) does not answer."""

    status = 503
    issue_code = "transient"


def operation_outcome(
    message: str, *, code: str = "exception", severity: str = "error", expression: list[str] | None = None
) -> dict[str, Any]:
    """Build a minimal FHIR R4 OperationOutcome.

    >>> operation_outcome("hook: expected 'patient-view'", code="invalid", expression=["hook"])["issue"][0]["code"]
    'invalid'
    """
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}
