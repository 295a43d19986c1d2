"""Keep prefetch templates inside the FHIR query subset that CDS Hooks 2.0 says every EHR can answer.

CDS Hooks 2.0, "Prefetch query restrictions": templates should use only instance reads, type searches
with resource references, token equality (optionally ``:in``), date parameters with the ``eq``, ``lt``,
``gt``, ``ge`` and ``le`` prefixes, ``_count`` and ``_sort``. A template outside that subset may be
silently ignored by an EHR, and the service would then fetch every call itself (slower, and on some
EHRs refused), so a definition that strays stops start-up instead.

The kind of each search parameter comes from the FHIR R4 search parameter registry; only the
parameters our services could reasonably use are listed. A new one is added here on purpose.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

#: FHIR R4 search parameter -> its type (reference, token or date), for the resources we query.
SEARCH_PARAMETERS: dict[str, str] = {
    "patient": "reference", "subject": "reference", "encounter": "reference",
    "code": "token", "status": "token", "category": "token", "clinical-status": "token",
    "verification-status": "token", "intent": "token", "identifier": "token", "medication": "reference",
    "date": "date", "authoredon": "date", "effective": "date", "onset-date": "date",
    "recorded-date": "date", "issued": "date",
}
RESULT_PARAMETERS = frozenset({"_count", "_sort"})
DATE_VALUE = re.compile(r"^(eq|lt|gt|ge|le)?\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?$")
TOKEN_ONLY = re.compile(r"^\{\{[^{}]+\}\}$")
REFERENCE_VALUE = re.compile(r"^([A-Z][A-Za-z]+/)?(\{\{[^{}]+\}\}|[A-Za-z0-9\-.]{1,64})$")
SORT_VALUE = re.compile(r"^-?[a-z][a-z\-]*$")
READ = re.compile(r"^[A-Z][A-Za-z]+/(\{\{[^{}]+\}\}|[A-Za-z0-9\-.]{1,64})$")


def check_query_subset(template: str) -> None:
    """Raise ValueError naming the first part of ``template`` outside the CDS Hooks 2.0 query subset.

    >>> check_query_subset("Observation?patient={{context.patientId}}&code=http://loinc.org|2132-9&_count=10")
    >>> check_query_subset("Observation?patient={{context.patientId}}&_include=Observation:subject")
    Traceback (most recent call last):
    ...
    ValueError: '_include' is outside the CDS Hooks prefetch query subset
    """
    resource_type, separator, query = template.partition("?")
    if not separator:
        if not READ.match(template):
            raise ValueError("an instance read must be 'Type/id' with nothing after the id")
        return
    if "/" in resource_type:
        raise ValueError("a search must be 'Type?params' (no compartment or operation paths)")
    if not query:
        return
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        _check_parameter(name, value)


def _check_parameter(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"parameter {name!r} has no value")
    if name in RESULT_PARAMETERS:
        _check_result_parameter(name, value)
        return
    base, _, modifier = name.partition(":")
    kind = SEARCH_PARAMETERS.get(base)
    if kind is None or "." in base:
        raise ValueError(f"{name!r} is outside the CDS Hooks prefetch query subset")
    if modifier and not (kind == "token" and modifier == "in"):
        raise ValueError(f"modifier ':{modifier}' on {base!r} is outside the subset (only token ':in')")
    for item in value.split(","):
        _check_value(name, kind, item)


def _check_value(name: str, kind: str, item: str) -> None:
    if kind == "reference" and not REFERENCE_VALUE.match(item):
        raise ValueError(f"{name}={item!r} is not a plain resource reference")
    if kind == "date" and not (DATE_VALUE.match(item) or TOKEN_ONLY.match(item)):
        raise ValueError(f"{name}={item!r}: dates take only the eq, lt, gt, ge and le prefixes")
    if kind == "token" and not item:
        raise ValueError(f"{name} has an empty token")


def _check_result_parameter(name: str, value: str) -> None:
    if name == "_count" and not (value.isdigit() and int(value) > 0):
        raise ValueError(f"_count={value!r} must be a positive integer")
    if name == "_sort":
        for key in value.split(","):
            if not SORT_VALUE.match(key) or key.lstrip("-") not in SEARCH_PARAMETERS:
                raise ValueError(f"_sort={value!r}: sort only by a listed search parameter")
