"""The data layer's faster ways give the answers of the plain ones (docs/performance.md, session 6): prefetch
queries filled once per service and set of context values, then reused; the plain fill is
:func:`fill_template` per key and call, and the read check ``READ_QUERY`` on each filled query.
"""

from __future__ import annotations

from helpers import service_definition
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.data.prefetch import READ_QUERY, _queries
from cds_service.protocol.prefetch_tokens import fill_template, template_tokens, token_values

SERVICES = [service_definition(s) for s in ("b12-status", "folic-acid-safety-sign", "folic-acid-safety-select")]
ODD_TEMPLATES = {
    "user": "{{context.userId}}", "role": "X?a={{userPractitionerRoleId}}&b={{userPractitionerId}}",
    "patientRead": "Patient/{{ context.patientId }}", "plain": "Observation?code=1", "none": "X?a={{patientId}}",
    "odd": "X?a={{context.draftOrders}}&b={{context.selections}}&c={{context.nothing}}{{ userPatientId }}",
    "enc": "Encounter/{{context.encounterId}}", "empty": "{{}}{{context.}}",
}
_JUNK = st.none() | st.booleans() | st.integers(-2, 2) | st.just([]) | st.just({}) | st.just(["a"])
_ids = st.sampled_from(["p-1", "p 1", "abc-123", "a/b", "x&y=1", "", " ", "Patient/p-1"]) | _JUNK
_users = st.sampled_from(["Practitioner/7", "PractitionerRole/r-9", "Patient/p-1", "RelatedPerson/x", "7", "/",
                          "Practitioner/", ""]) | _JUNK
_contexts = st.fixed_dictionaries({}, optional={"patientId": _ids, "userId": _users, "encounterId": _ids,
                                                "draftOrders": _ids, "selections": _ids, "nothing": _ids})


def _plain(templates: dict[str, str], context: dict[str, object]) -> list[tuple[str, str, str | None]]:
    found = []
    for key, template in templates.items():
        query = fill_template(template, context)
        read = READ_QUERY.match(query)
        found.append((key, query, read.group(1) if read else None))
    return found


@settings(max_examples=400, deadline=None)
@given(st.lists(_contexts, min_size=1, max_size=4))
def test_filled_queries_are_the_plain_fills(contexts: list[dict[str, object]]) -> None:
    for templates in [*(s.prefetch for s in SERVICES), ODD_TEMPLATES]:
        for context in [*contexts, *contexts]:  # the second time, from what was remembered
            assert list(_queries(templates, context)) == _plain(templates, context)


@settings(max_examples=300, deadline=None)
@given(_contexts, _contexts)
def test_equal_token_values_fill_alike(first: dict[str, object], second: dict[str, object]) -> None:
    """The key the fills are remembered by: equal keys, equal queries (every template, every token)."""
    for templates in [*(s.prefetch for s in SERVICES), ODD_TEMPLATES]:
        tokens = template_tokens(templates.values())
        if token_values(tokens, first) == token_values(tokens, second):
            assert _plain(templates, first) == _plain(templates, second)
