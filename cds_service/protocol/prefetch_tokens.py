"""CDS Hooks 2.0 prefetch tokens: what they are, and how a template is filled from a hook context.

One filler for both sides of the wire: the service fills its own templates to fetch what the EHR did
not prefetch (``data/prefetch.py``), and ``b12-cds fire`` fills them as an EHR would (``ehr.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
#: Prefetch tokens of CDS Hooks 2.0 besides ``context.<field>``: the id part of ``context.userId``.
USER_TOKENS = ("userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId")
#: Characters a token's value keeps as they are; everything else is percent-encoded (RFC 3986).
#: Why "/" stays: CDS Hooks fills ``{{context.userId}}`` with a reference ("Practitioner/123"), which
#: a template uses as a read ("user": "{{context.userId}}") or as a reference search value
#: (``performer={{context.userId}}``); "/" is legal in both a path and a query (RFC 3986 §3.3, §3.4).
#: Encoded as %2F the read would name no resource. Everything that could end a value or add a
#: parameter ("&", "=", "#", "?", "+", ",", " ") is encoded; ids never hold "/" (FHIR id: [A-Za-z0-9-.]).
KEEP = "/"


def fill_template(template: str, context: Mapping[str, object]) -> str:
    """Replace the prefetch tokens with URL-encoded context values; an unfillable token becomes empty.

    ``context`` is the hook's context (only fields holding a string can fill a token).

    >>> fill_template("Condition?patient={{context.patientId}}&asserter={{userPractitionerId}}",
    ...               {"patientId": "p 1", "userId": "Practitioner/7"})
    'Condition?patient=p%201&asserter=7'
    >>> fill_template("{{context.userId}}", {"userId": "Practitioner/7"})
    'Practitioner/7'
    """
    user_type, _, user_id = str(context.get("userId") or "").partition("/")
    pieces = _pieces(template)
    filled = list(pieces)
    for index in range(1, len(pieces), 2):  # literal text, token, literal text, ... (TOKEN.split)
        token = pieces[index]
        found: object = None
        if token in USER_TOKENS:
            found = user_id if token == f"user{user_type}Id" else None
        elif token.startswith("context."):
            found = context.get(token.removeprefix("context."))
        # why: an unfillable token becomes empty (the search then finds nothing), never the word "None"
        filled[index] = _quoted(found) if isinstance(found, str) else ""
    return "".join(filled)


def template_tokens(templates: Iterable[str]) -> tuple[tuple[str, bool], ...]:
    """Return what filling ``templates`` reads of a context: (field, True) for the ``userId`` a user token
    reads, (field, False) for a ``context.<field>`` token; once each, in order of first use."""
    found: dict[tuple[str, bool], None] = {}
    for template in templates:
        for token in _pieces(template)[1::2]:
            if token in USER_TOKENS:
                found["userId", True] = None
            elif token.startswith("context."):
                found[token.removeprefix("context."), False] = None
    return tuple(found)


def token_values(tokens: tuple[tuple[str, bool], ...], context: Mapping[str, object]) -> tuple[object, ...]:
    """Return the context values the ``tokens`` of :func:`template_tokens` fill templates with: equal
    values fill the same templates the same way (a key to remember filled templates by)."""
    values: list[object] = []
    for name, as_user in tokens:
        found = context.get(name)
        if as_user:
            values.append(str(found or ""))  # as fill_template reads userId for a user token
        else:
            values.append(found if isinstance(found, str) else None)  # only a string fills a token
    return tuple(values)


@functools.lru_cache(maxsize=256)
def _pieces(template: str) -> tuple[str, ...]:
    """A template cut at its tokens once: the service fills the same few templates on every call."""
    return tuple(TOKEN.split(template))


@functools.lru_cache(maxsize=1024)  # a call fills several tokens with the same patient id; bounded
def _quoted(value: str) -> str:
    return quote(value, safe=KEEP)
