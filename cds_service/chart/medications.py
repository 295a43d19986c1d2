"""MedicationStatement / MedicationRequest (and draft orders) -> MedicationUse facts.

Only records of a recognised class (knowledge value sets ``med_*``) become facts; entered-in-error
records are dropped, and resources in the draft orders that are not MedicationRequests
(NutritionOrder, ServiceRequest, ...) are ignored. Nothing validates a whole record: only the
elements read here are checked (``elements.py``), and each one that cannot be read is noted and
read cautiously (B12-RULES.md §7).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import NamedTuple

from cds_service.knowledge import Knowledge

from .dosage import daily_dose_mg, dosages, read_route, schedule_bound, strength_mg
from .elements import unreadable, unreadable_notes
from .facts import MedicationClass, MedicationUse, Route
from .fhir_types import (
    JSON,
    as_dict,
    as_str,
    parse_fhir_date,
    period_date,
    resource_ref,
)
from .med_concepts import Product, classify, ingredient_name, is_injectable, resolve_product

KINDS = frozenset({"MedicationRequest", "MedicationStatement"})
# FHIR R4 status codes that mean "taking it now" (or, for a draft order, "about to").
ACTIVE_STATUSES = {
    ("MedicationRequest", False): frozenset({"active", "on-hold"}),
    ("MedicationRequest", True): frozenset({"draft", "active", "on-hold"}),
    ("MedicationStatement", False): frozenset({"active", "intended"}),
}
DROPPED_STATUSES = frozenset({"entered-in-error"})


def read_medication(
    resource: object,
    kb: Knowledge,
    *,
    medications: Mapping[str, JSON],
    today: date,
    is_draft: bool = False,
) -> tuple[tuple[MedicationUse, ...], tuple[str, ...]]:
    """Return one MedicationUse per recognised class of a medication record, and chart notes."""
    if not isinstance(resource, dict) or resource.get("resourceType") not in KINDS:
        return (), ()
    kind = resource["resourceType"]
    if is_draft and kind != "MedicationRequest":
        return (), ()
    status = as_str(resource.get("status")) or ""
    if status in DROPPED_STATUSES:
        return (), ()
    status_note: tuple[str, ...] = ()
    if is_draft and status in ("", "unknown"):
        # Why: an order in the hook's draftOrders is being ordered now; an EHR that leaves out its
        # status must not make the folate-trap check miss it (a missed warning is the costlier error).
        resource, status = {**resource, "status": "draft"}, "draft"
        status_note = (f"{kind}/{resource.get('id', '?')}: draft order without a usable status; read as a draft",)
    if is_draft and status not in ACTIVE_STATUSES[(kind, True)]:
        # Why: order-sign may carry orders that are no longer live (cancelled, stopped, completed,
        # revoked); they will not be given, so they neither trigger the folate-trap check nor
        # count as "B12 therapy in the same draft orders" (B12-RULES.md §5).
        return (), ()
    product = resolve_product(resource, medications)
    notes = (*status_note, *((product.note,) if product.note else ()))
    classes = classify(kb, product)
    if not classes:
        return (), notes
    defects = unreadable(resource)
    lines = dosages(resource)  # read once: the dates and each class's route and dose read them
    start, end = _start_end(resource, lines)
    live = status in ACTIVE_STATUSES.get((kind, is_draft), frozenset())
    course = _Course(start, end, live and (end is None or end >= today), is_draft, tuple(defects))
    uses = tuple(_use(kb, resource, product, cls, evidence, _cautious(course, cls, today), lines)
                 for cls, evidence in classes.items())
    return uses, (*notes, *unreadable_notes(resource, defects))


def _cautious(course: _Course, med_class: MedicationClass, today: date) -> _Course:
    """Read an unreadable status the way that cannot silence a warning (B12-RULES.md §7).

    Why: a B12 product read as taken would silence the folate-trap warning, so it is read as
    not taken; a risk medicine read as taken only adds a test suggestion.
    """
    if "status" not in course.unread or course.is_draft:
        return course
    active = med_class is not MedicationClass.B12_THERAPY and (course.end is None or course.end >= today)
    return _Course(course.start, course.end, active, course.is_draft, course.unread)


class _Course(NamedTuple):  # a named tuple, not a frozen dataclass: one or two per medication record read
    """When a record's medicine is taken, and whether it counts now."""

    start: date | None
    end: date | None
    active: bool
    is_draft: bool
    unread: tuple[str, ...] = ()  # elements that could not be read


def _use(
    kb: Knowledge,
    resource: JSON,
    product: Product,
    med_class: MedicationClass,
    evidence: str,
    course: _Course,
    lines: list[JSON],
) -> MedicationUse:
    """Return the MedicationUse of one class of a record (``lines``: its ``dosages``)."""
    ingredient = ingredient_name(kb, med_class, product)
    route = read_route(lines, kb)
    if route is Route.UNKNOWN and is_injectable(kb, product):
        # Why: B12-RULES.md §7 - with no route in the dosage (often no dosage at all, as in
        # Synthea's "Vitamin B 12 5 MG/ML Injectable Solution"), the product's form decides.
        route = Route.INJECTION
    return MedicationUse(
        med_class=med_class,
        ingredient=ingredient,
        display=product.display or ingredient,
        route=route,
        daily_dose_mg=daily_dose_mg(lines, kb, strength_mg(kb, product, f"med_{med_class.value}")),
        start=course.start,
        end=course.end,
        active=course.active,
        is_draft=course.is_draft,
        source_ref=resource_ref(resource),
        matched_by=evidence,
        unread=course.unread,
    )


def _start_end(resource: JSON, lines: list[JSON]) -> tuple[date | None, date | None]:
    """Return when the medicine starts and ends.

    Start, MedicationRequest: the dosing schedule's own boundsPeriod.start (when taking
    begins), else dispenseRequest.validityPeriod.start (when it may first be dispensed), else
    authoredOn (when it was written, usually the same day). MedicationStatement:
    effectivePeriod.start, else effectiveDateTime, else the schedule's start. End: the
    schedule's or effective period's end, else the prescription's validity end. ``lines``: its ``dosages``.
    """
    if resource.get("resourceType") == "MedicationStatement":
        effective = resource.get("effectivePeriod")
        start = (
            period_date(effective, "start")
            or parse_fhir_date(resource.get("effectiveDateTime"))
            or schedule_bound(lines, "start")
        )
        return start, period_date(effective, "end") or schedule_bound(lines, "end")
    validity = as_dict(resource.get("dispenseRequest")).get("validityPeriod")
    start = (
        schedule_bound(lines, "start")
        or period_date(validity, "start")
        or parse_fhir_date(resource.get("authoredOn"))
    )
    return start, schedule_bound(lines, "end") or period_date(validity, "end")


def read_medications(
    records: list[JSON],
    kb: Knowledge,
    *,
    medications: Mapping[str, JSON],
    today: date,
    is_draft: bool = False,
) -> tuple[tuple[MedicationUse, ...], tuple[str, ...]]:
    """Return the MedicationUse facts and chart notes for a list of medication records."""
    uses: list[MedicationUse] = []
    notes: list[str] = []
    for record in records:
        found, found_notes = read_medication(
            record, kb, medications=medications, today=today, is_draft=is_draft
        )
        uses += found
        notes += found_notes
    return tuple(uses), tuple(notes)
