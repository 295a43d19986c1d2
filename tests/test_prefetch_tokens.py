"""Prefetch tokens (CDS Hooks 2.0): one filler for the service and for `b12-cds fire`, values URL-encoded."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from helpers import patient_view_request
from hypothesis import given
from hypothesis import strategies as st

from cds_service.protocol.prefetch_tokens import fill_template
from cds_service.protocol.request import parse_hook_call

CONTEXT = {"patientId": "p-1", "userId": "PractitionerRole/r-9", "encounterId": "e 1"}


def test_context_and_user_tokens_are_filled():
    assert fill_template("Encounter/{{context.encounterId}}", CONTEXT) == "Encounter/e%201"
    assert fill_template("X?a={{userPractitionerRoleId}}&b={{userPractitionerId}}", CONTEXT) == "X?a=r-9&b="
    assert fill_template("Patient/{{ context.patientId }}", CONTEXT) == "Patient/p-1"


def test_a_reference_token_stays_a_reference_as_an_ehr_sends_it():
    # CDS Hooks' own example template "user": "{{context.userId}}" is a read of Practitioner/123:
    # with "/" encoded it would name no resource. As a reference search value it reads the same.
    assert fill_template("{{context.userId}}", CONTEXT) == "PractitionerRole/r-9"
    filled = fill_template("Observation?performer={{context.userId}}", CONTEXT)
    assert filled == "Observation?performer=PractitionerRole/r-9"
    assert parse_qsl(urlsplit(filled).query) == [("performer", "PractitionerRole/r-9")]


def test_tokens_that_cannot_be_filled_become_empty():
    context = {**CONTEXT, "draftOrders": {"resourceType": "Bundle"}, "selections": ["MedicationRequest/1"]}
    assert fill_template("X?a={{context.draftOrders}}&b={{context.selections}}&c={{context.nothing}}",
                         context) == "X?a=&b=&c="
    assert fill_template("X?a={{patientId}}", context) == "X?a="  # tokens are named context.<field>


def test_the_service_fills_from_the_parsed_context_as_the_ehr_does_from_its_json():
    body = patient_view_request("abc-123", context={"userId": "Practitioner/7", "patientId": "abc-123",
                                                    "encounterId": "enc.9"})
    parsed = parse_hook_call(body, "patient-view")
    template = "Observation?patient={{context.patientId}}&encounter={{context.encounterId}}&p={{context.userId}}"
    assert fill_template(template, dict(parsed.context)) == fill_template(template, body["context"])


@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1))  # Cs: no UTF-8 form
def test_a_value_is_one_query_value_whatever_it_holds(value):
    # "&", "=", "#", "+", "?" and spaces never end the value or add a parameter
    filled = fill_template("Observation?patient={{context.patientId}}&_count=1", {"patientId": value})
    assert "#" not in filled
    assert parse_qsl(filled.split("?", 1)[1], keep_blank_values=True) == [("patient", value), ("_count", "1")]
