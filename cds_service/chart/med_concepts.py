"""What a medication record is: its product, resolved through references, and its classes.

A MedicationStatement / MedicationRequest names its drug by ``medicationCodeableConcept`` or
by ``medicationReference`` to a contained Medication (``#id``), to a Medication the data layer
fetched ("Medication/<id>"), or to nothing we have (then only the reference's display text is
left, and the chart says so).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cds_service.knowledge import Knowledge
from cds_service.memo import BoundedMemo

from .elements import unreadable, unreadable_notes
from .facts import MedicationClass
from .fhir_types import (
    JSON,
    as_dict,
    as_items,
    as_list,
    as_str,
    codings,
    concept_label,
    concept_texts,
    resource_ref,
)
from .matching import code_pairs, match_codes, match_concept, match_words

_MEDICATION_REF = re.compile(r"(?:^|/)(Medication/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")
_CLASS_NAMES = frozenset(c.value for c in MedicationClass)
_COMBINED = (MedicationClass.FOLIC_ACID, MedicationClass.B12_THERAPY, MedicationClass.B12_FOLATE_COMBINATION)


@dataclass(frozen=True)
class Ingredient:
    """One Medication.ingredient: what it is and how much per unit of product."""

    concept: JSON
    strength: JSON  # FHIR Ratio, possibly empty


@dataclass(frozen=True)
class Product:
    """The drug a record names, with every word and code we could find for it."""

    concept: JSON
    texts: tuple[str, ...]
    ingredients: tuple[Ingredient, ...] = ()
    display: str = ""
    note: str | None = None  # why the product could only be read in part
    form: JSON | None = None  # Medication.form (dose form), when a Medication was found


def resolve_product(resource: JSON, medications: Mapping[str, JSON]) -> Product:
    """Return the product named by a MedicationStatement / MedicationRequest."""
    if "medicationCodeableConcept" in resource:
        concept = as_dict(resource["medicationCodeableConcept"])
        texts = concept_texts(concept)  # read once: the label is the first of them (concept_label)
        return Product(concept, tuple(texts), display=texts[0] if texts else concept_label(concept))
    reference = as_dict(resource.get("medicationReference"))
    target, display = as_str(reference.get("reference")) or "", as_str(reference.get("display")) or ""
    medication = _find_medication(resource, target, medications)
    if medication is None:
        note = f"{resource_ref(resource)}: medication {target or '(no reference)'} could not be resolved"
        note += f"; recognised by its display text '{display}' only" if display else ""
        return Product({}, (display,) if display else (), display=display, note=note)
    product = _product_of(medication, display)
    notes = unreadable_notes(medication, unreadable(medication))
    return replace(product, note="; ".join(notes)) if notes else product


def _find_medication(resource: JSON, target: str, medications: Mapping[str, JSON]) -> JSON | None:
    """Return the Medication a reference points at, contained or fetched, or None."""
    if target.startswith("#"):
        for contained in as_list(resource.get("contained")):
            contained = as_dict(contained)
            if contained.get("resourceType") == "Medication" and contained.get("id") == target[1:]:
                return contained
        return None
    match = _MEDICATION_REF.search(target)
    found = medications.get(match.group(1)) if match else None
    return found if isinstance(found, dict) else None


def _product_of(medication: JSON, display: str) -> Product:
    """Return the Product described by a Medication resource."""
    concept = as_dict(medication.get("code"))
    ingredients = tuple(
        Ingredient(as_dict(item.get("itemCodeableConcept")), as_dict(item.get("strength")))
        for item in map(as_dict, as_items(medication.get("ingredient")))
    )
    texts = [*concept_texts(concept), *([display] if display else [])]
    texts += [t for i in ingredients for t in concept_texts(i.concept)]
    label = concept_label(concept) or display or " + ".join(concept_label(i.concept) for i in ingredients)
    form = as_dict(medication.get("form"))
    return Product(concept, tuple(texts), ingredients, label, form=form)


def is_injectable(kb: Knowledge, product: Product) -> bool:
    """True when the product is an injectable dose form: its Medication.form, else its name.

    Why: B12-RULES.md §7 - with no dosage, an injectable B12 product ("Vitamin B 12 5 MG/ML
    Injectable Solution", Medication.form "Injection") is injected replacement.
    """
    if product.form and "form_injectable" in match_concept(kb, product.form, "form_"):
        return True
    return "form_injectable" in match_words(kb, list(product.texts), "form_")


def classify(kb: Knowledge, product: Product) -> dict[MedicationClass, str]:
    """Return {medication class: evidence} for a product, its ingredients and its words.

    Why a combination wins: a product containing both a folate and a cobalamin treats B12
    too, so it is never a folic-acid trigger (B12-RULES.md §5, "A product that also contains
    B12 is not a trigger").
    """
    key = (kb, code_pairs(product.concept), tuple(code_pairs(i.concept) for i in product.ingredients), product.texts)
    return dict(_CLASSES.get(key, lambda: _classify(kb, product)))  # a copy: the caller's own


#: classify's answers per knowledge and what it reads of a product (the (system, code) pairs match_codes
#: reads of its concept and each ingredient's, and its words): the same products come back on every call.
_CLASSES: BoundedMemo[dict[MedicationClass, str]] = BoundedMemo(4096)  # bounded: requests bring any products


def _classify(kb: Knowledge, product: Product) -> dict[MedicationClass, str]:
    """:func:`classify` without the memory."""
    found = match_codes(kb, product.concept, "med_")
    for ingredient in product.ingredients:
        for value_set, evidence in match_codes(kb, ingredient.concept, "med_").items():
            found.setdefault(value_set, evidence)
    for value_set, evidence in match_words(kb, list(product.texts), "med_").items():
        found.setdefault(value_set, evidence)
    classes = {
        MedicationClass(vs.removeprefix("med_")): evidence
        for vs, evidence in found.items()
        if vs.removeprefix("med_") in _CLASS_NAMES
    }
    folate, cobalamin, combination = _COMBINED
    if (folate in classes and cobalamin in classes) or combination in classes:
        parts = [classes.pop(c) for c in _COMBINED if c in classes]
        classes[combination] = " + ".join(parts)
    return classes


def ingredient_name(kb: Knowledge, med_class: MedicationClass, product: Product) -> str:
    """Return the ingredient's name for card text, e.g. "pantoprazole" for a coded tablet."""
    key = (kb, med_class, product.texts, code_pairs(product.concept),
           tuple(code_pairs(i.concept) for i in product.ingredients))
    return _NAMES.get(key, lambda: _ingredient_name(kb, med_class, product))


_NAMES: BoundedMemo[str] = BoundedMemo(4096)  # ingredient_name's answers, as _CLASSES (the same reading)


def _ingredient_name(kb: Knowledge, med_class: MedicationClass, product: Product) -> str:
    """:func:`ingredient_name` without the memory."""
    value_set = f"med_{med_class.value}"
    displays = [
        m.display for system, code, _ in _all_codings(product) for m in kb.match_code(system, code, value_set)
    ]
    for text in [*product.texts, *displays]:
        for match in kb.match_text(text, value_set):
            if match.value_set == value_set:
                return match.synonym
    return kb.value_sets[value_set].title if value_set in kb.value_sets else med_class.value


def _all_codings(product: Product) -> list[tuple[str, str, str]]:
    """Return the codings of the product and of each of its ingredients."""
    concepts = [product.concept, *(i.concept for i in product.ingredients)]
    return [coding for concept in concepts for coding in codings(concept)]
