"""CDS Hooks 2.0 request models and the hook contexts of patient-view, order-select and order-sign."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from . import decoding


def _not_a_dot_segment(value: str) -> str:
    # Why: "." and ".." pass the FHIR id pattern but are dot segments in a URL: "Patient/.." filled into a
    # prefetch read would be sent as the FHIR base itself, "Patient/." as a search of every patient.
    if value.rpartition("/")[2] in (".", ".."):
        raise ValueError("'.' and '..' cannot be ids: in a FHIR URL they name another path")
    return value


#: FHIR R4 id datatype. Ids are substituted into FHIR URLs, so nothing else may pass.
FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$"), AfterValidator(_not_a_dot_segment)]
#: A reference such as "Practitioner/123" (userId) or "MedicationRequest/103" (selections).
Reference = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$"),
                      AfterValidator(_not_a_dot_segment)]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Incoming(BaseModel):
    """Base for request models: extension members are allowed, types are checked strictly."""

    model_config = ConfigDict(extra="allow", frozen=True)


class FhirAuthorization(_Incoming):
    """OAuth 2.0 access token the service uses to call back the EHR's FHIR server."""

    access_token: NonEmpty
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: NonEmpty
    subject: NonEmpty
    patient: FhirId | None = None

    def __repr__(self) -> str:  # never let a token reach a log line through repr()
        return f"FhirAuthorization(token_type='Bearer', scope={self.scope!r}, access_token='***')"

    __str__ = __repr__


class DraftOrders(_Incoming):
    """A FHIR Bundle of orders not yet on the server (the sandbox omits Bundle.type)."""

    resourceType: Literal["Bundle"]
    entry: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("entry")
    @classmethod
    def _entries_hold_resources(cls, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, entry in enumerate(entries):
            resource = entry.get("resource")
            if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
                raise ValueError(f"entry[{index}].resource must be a FHIR resource")
        return entries

    def resources(self) -> list[dict[str, Any]]:
        """Return the draft resources in order."""
        return [entry["resource"] for entry in self.entry]


class PatientViewContext(_Incoming):
    """patient-view 1.0: the chart was opened."""

    userId: Reference
    patientId: FhirId
    encounterId: FhirId | None = None


class OrderSignContext(PatientViewContext):
    """order-sign 1.0: orders are about to be signed."""

    draftOrders: DraftOrders


class OrderSelectContext(OrderSignContext):
    """order-select 1.0: the clinician selected orders while building them."""

    selections: list[NonEmpty] = Field(min_length=1)

    @model_validator(mode="after")
    def _selections_name_draft_orders(self) -> OrderSelectContext:
        # "The selections field references FHIR resources in the draftOrders Bundle."
        known = self._references()
        for index, selection in enumerate(self.selections):
            if selection not in known:
                raise ValueError(f"selections[{index}] {selection!r} is not an order in draftOrders")
        return self

    def _references(self) -> dict[str, str]:
        """Map every way a draft order may be named ("MedicationRequest/1" or "1") to "Type/id"."""
        names: dict[str, str] = {}
        for resource in self.draftOrders.resources():
            if resource.get("id"):
                reference = f"{resource['resourceType']}/{resource['id']}"
                names[reference] = reference
                names.setdefault(str(resource["id"]), reference)
        return names

    @property
    def selected_references(self) -> tuple[str, ...]:
        """The selections as "Type/id", whichever form the EHR used."""
        names = self._references()
        return tuple(names[selection] for selection in self.selections)


HookContext = PatientViewContext | OrderSelectContext | OrderSignContext

CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


class HookRequest(_Incoming):
    """The body of ``POST /cds-services/{id}``; ``context`` is parsed per hook afterwards."""

    hook: NonEmpty
    hookInstance: uuid.UUID
    fhirServer: AnyHttpUrl | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_authorization(self) -> HookRequest:
        # 2.0: fhirServer is REQUIRED when fhirAuthorization is sent.
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self

    @property
    def fhir_base(self) -> str | None:
        """The FHIR base URL without a trailing slash, if given."""
        return str(self.fhirServer).rstrip("/") if self.fhirServer else None


@dataclass(frozen=True)
class ParsedCall:
    """A validated hook call: the envelope and its typed context."""

    request: HookRequest
    context: PatientViewContext


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on what one request may make the service parse and read."""

    max_depth: int = 64  # FHIR resources nest about 10 deep; thousands of levels is an attack
    max_prefetch_keys: int = 32
    max_resources: int = 10_000  # prefetch entries plus draft orders


def decode_json_body(raw: bytes, content_type: str | None, limits: RequestLimits = RequestLimits()) -> Any:
    """Decode a request body that must be JSON, or raise 415/400.

    A JSON media type (``application/json``, ``application/fhir+json``, ``*+json``) or none at all
    is accepted; anything else is 415. Unparseable or too deeply nested JSON is 400.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {media!r}")
    # One pass over a UTF-8 body serves both guards (``decoding.outline``); other bodies are read as before.
    encoding = json.detect_encoding(raw) if isinstance(raw, bytes) else None  # worked out once, used twice
    scan = decoding.outline(raw) if encoding in _UTF8 else None
    try:
        value = decoding.loads(raw, limits.max_depth, scan, encoding)
    except RecursionError as exc:
        raise InvalidRequest(f"body nests deeper than {limits.max_depth} levels") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from exc
    except ValueError as exc:  # whatever else the decoder refuses, e.g. an integer over 4,300 digits
        raise InvalidRequest("body is not valid JSON: a number is too long to read") from exc
    if _depth_exceeds(raw, limits.max_depth, scan):
        raise InvalidRequest(f"body nests deeper than {limits.max_depth} levels")
    return value


_UTF8 = ("utf-8", "utf-8-sig")


def _depth_exceeds(raw: bytes | str, limit: int, scan: decoding.Outline | None = None) -> bool:
    r"""True if a body that has already parsed as JSON nests deeper than ``limit``.

    A bounded scan of the raw text, in C-speed bytes operations (a walk over the decoded value cost as much
    as the parsing): the brackets outside strings (``decoding.outline``, or ``scan`` when the caller has it),
    whose innermost ``{}`` pairs are removed once per level, at most ``limit`` times.

    >>> _depth_exceeds(b'{"a": [{"b": "[[[[\\"]]"}]}', 3), _depth_exceeds(b'[[[[]]]]', 3)
    (False, True)
    """
    if scan is None:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        elif json.detect_encoding(raw) not in _UTF8:
            raw = raw.decode(json.detect_encoding(raw)).encode("utf-8", "surrogatepass")
        scan = decoding.outline(raw)
    brackets = scan.brackets
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"{}", b"")
    return bool(brackets)


def check_size(request: HookRequest, context: PatientViewContext, limits: RequestLimits) -> None:
    """Refuse calls that would make the service read more than the limits allow (413)."""
    prefetch = request.prefetch or {}
    if len(prefetch) > limits.max_prefetch_keys:
        raise PayloadTooLarge(f"prefetch has {len(prefetch)} keys; at most {limits.max_prefetch_keys} are read",
                              expression=["prefetch"])
    resources = sum(len(value.get("entry") or []) if isinstance(value, dict) else 1 for value in prefetch.values())
    if isinstance(context, OrderSignContext):
        resources += len(context.draftOrders.entry)
    if resources > limits.max_resources:
        raise PayloadTooLarge(f"the request holds {resources} resources; at most {limits.max_resources} are read",
                              expression=["prefetch"])


def parse_hook_call(body: Any, expected_hook: str, limits: RequestLimits = RequestLimits()) -> ParsedCall:
    """Validate a decoded body as a call of ``expected_hook``, or raise InvalidRequest naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    request = _validate(HookRequest, body, prefix="")
    if request.hook != expected_hook:
        raise InvalidRequest(
            f"hook: this service answers {expected_hook!r}, not {request.hook!r}", expression=["hook"]
        )
    context = _validate(CONTEXT_MODELS[expected_hook], request.context, prefix="context")
    authorised = request.fhirAuthorization.patient if request.fhirAuthorization else None
    if authorised is not None and authorised != context.patientId:
        # A token scoped to another patient than the chart in context: something is wrong upstream.
        raise InvalidRequest("fhirAuthorization.patient differs from context.patientId",
                             expression=["fhirAuthorization.patient"])
    check_size(request, context, limits)
    return ParsedCall(request=request, context=context)


def _validate(model: type[BaseModel], data: Any, *, prefix: str) -> Any:
    """Validate, turning the first pydantic error into an InvalidRequest with a FHIRPath-like location."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        location = field_path(prefix, error["loc"])
        raise InvalidRequest(f"{location or 'body'}: {error['msg']}", expression=[location or "body"]) from exc


def field_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """Join a pydantic error location into ``context.draftOrders.entry[0]`` form.

    >>> field_path("context", ("selections", 0))
    'context.selections[0]'
    """
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path
