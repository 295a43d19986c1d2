"""Which elements the rules read, and what in them could not be read (B12-RULES.md §7, tolerant reading).

Nothing here validates a whole resource. Each reader names the elements it reads (``SPECS``);
only those are checked, each with a small shape check that never raises. A defect anywhere
else (a ``category`` object where a list belongs, an unknown extension, a ``note`` string)
is not looked at, so it can neither hide a resource nor add a note. A defect in a read element
becomes a chart note naming the element; the readers then take the cautious reading
(an unreadable dose is an unknown dose).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .fhir_types import JSON, _parse_date, as_dict, as_number, parse_fhir_date, resource_ref

Check = Callable[[object], str | None]  # value -> why it cannot be read, or None


def _string(value: object) -> str | None:
    return None if isinstance(value, str) else "not a string"


def _date(value: object) -> str | None:
    if not isinstance(value, str):
        return "not a date string"
    return None if parse_fhir_date(value) else f"'{value[:40]}' is not a FHIR date"


def _number(value: object) -> str | None:
    return None if as_number(value) is not None else "not a number"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


def _object(check: Mapping[str, Check]) -> Check:
    """A check of a JSON object whose listed keys are checked in turn (first problem wins)."""
    # Why the string checks are inlined: this runs for every element of every resource read, and most
    # listed keys are strings; the answers (and which problem comes first) are the same.
    items = tuple((key, None if inner is _string else inner) for key, inner in check.items())

    def run(value: object) -> str | None:
        if not isinstance(value, dict):
            return "not an object"
        for key, inner in items:
            if key in value:
                element = value[key]
                if inner is None:
                    if not isinstance(element, str):
                        return f"{key}: not a string"
                    continue
                problem = inner(element)
                if problem:
                    return f"{key}: {problem}"
        return None

    run.fields = items  # type: ignore[attr-defined]  # read by _compile
    return run


def _array(item: Check) -> Check:
    """A check of a FHIR array; a lone object is a defect (it is still read as one item)."""

    def run(value: object) -> str | None:
        if isinstance(value, dict):
            return "an object where a list belongs (read as one item)"
        if not isinstance(value, list):
            return "not a list"
        for index, element in enumerate(value):
            problem = item(element)
            if problem:
                return f"[{index}] {problem}"
        return None

    run.item = item  # type: ignore[attr-defined]  # read by _compile
    return run


CODING = _object({"system": _string, "code": _string, "display": _string})
CONCEPT = _object({"coding": _array(CODING), "text": _string})
QUANTITY = _object({"value": _number, "comparator": _string, "unit": _string, "system": _string,
                    "code": _string})
PERIOD = _object({"start": _date, "end": _date})
REFERENCE = _object({"reference": _string, "display": _string})
RATIO = _object({"numerator": QUANTITY, "denominator": QUANTITY})
TIMING = _object({"code": CONCEPT, "repeat": _object({
    "frequency": _number, "period": _number, "periodUnit": _string, "boundsPeriod": PERIOD})})
DOSAGE = _array(_object({"text": _string, "route": CONCEPT, "timing": TIMING, "sequence": _number,
                         "doseAndRate": _array(_object({"doseQuantity": QUANTITY}))}))

#: The elements each reader uses, per resource type. Nothing else is looked at.
SPECS: dict[str, dict[str, Check]] = {
    "Patient": {"gender": _string, "birthDate": _date, "deceasedBoolean": _boolean,
                "deceasedDateTime": _date},
    "Observation": {
        "status": _string, "code": CONCEPT, "valueQuantity": QUANTITY, "valueString": _string,
        "valueInteger": _number, "valueCodeableConcept": CONCEPT, "effectiveDateTime": _date,
        "effectivePeriod": PERIOD, "effectiveInstant": _date, "issued": _date,
        "interpretation": _array(CONCEPT),
        "referenceRange": _array(_object({"low": QUANTITY, "high": QUANTITY})),
    },
    "MedicationRequest": {
        "status": _string, "medicationCodeableConcept": CONCEPT, "medicationReference": REFERENCE,
        "dosageInstruction": DOSAGE, "authoredOn": _date,
        "dispenseRequest": _object({"validityPeriod": PERIOD}),
    },
    "MedicationStatement": {
        "status": _string, "medicationCodeableConcept": CONCEPT, "medicationReference": REFERENCE,
        "dosage": DOSAGE, "effectiveDateTime": _date, "effectivePeriod": PERIOD,
    },
    "Medication": {"code": CONCEPT, "form": CONCEPT,
                   "ingredient": _array(_object({"itemCodeableConcept": CONCEPT, "strength": RATIO}))},
    "Condition": {
        "code": CONCEPT, "category": _array(CONCEPT), "clinicalStatus": CONCEPT,
        "verificationStatus": CONCEPT, "onsetDateTime": _date, "onsetPeriod": PERIOD,
        "recordedDate": _date, "abatementDateTime": _date, "abatementPeriod": PERIOD,
    },
    "Procedure": {"status": _string, "code": CONCEPT, "performedDateTime": _date, "performedPeriod": PERIOD},
}


def _compile(check: Check) -> Check:
    """Return ``check`` as one generated function: the same answers, without a call per nested element.

    Why: every element the readers use is checked on every resource read, and the checks nest (an
    Observation's referenceRange is a list of objects of Quantities of strings); as closures that was a call
    and a loop per level and key. Compiled, an object's listed keys are tested in line, in the same order,
    and the first problem is returned with the same words (``tests/test_chart_fast_paths.py`` compares the
    two on varied and malformed input). A check that is not an ``_object`` or ``_array`` is called as it is.
    """
    lines = ["def compiled(v0):"]
    names: dict[str, object] = {}
    _emit(check, "v0", (), lines, names, 1, [0])
    lines.append("    return None")
    namespace = dict(names)
    exec("\n".join(lines), namespace)  # code built here from the checks above, nothing else
    return namespace["compiled"]  # type: ignore[no-any-return]


def _emit(check: Check, var: str, prefix: tuple[str, ...], lines: list[str], names: dict[str, object],
          depth: int, counter: list[int]) -> None:
    """Append the code of ``check`` on ``var``; a problem is returned as ``prefix`` + its words, where
    ``prefix`` holds literal text and index variables (``"i<n>"`` marked by a leading NUL)."""
    pad = "    " * depth

    def fail(words: str) -> str:
        parts = [f"str({p[1:]})" if p.startswith("\0") else repr(p) for p in prefix]
        return f"{pad}    return " + " + ".join([*parts, words]) if parts else f"{pad}    return {words}"

    fields = getattr(check, "fields", None)
    item = getattr(check, "item", None)
    if check in _LEAVES:
        _emit_leaf(check, var, fail, pad, lines, names)
    elif fields is not None:
        lines += [f"{pad}if not isinstance({var}, dict):", fail(repr("not an object"))]
        for key, inner in fields:
            counter[0] += 1
            element = f"v{counter[0]}"
            lines += [f"{pad}if {key!r} in {var}:", f"{pad}    {element} = {var}[{key!r}]"]
            _emit(_string if inner is None else inner, element, (*prefix, f"{key}: "), lines, names, depth + 1,
                  counter)
    elif item is not None:
        counter[0] += 1
        index, element = f"i{counter[0]}", f"v{counter[0]}"
        lines += [f"{pad}if isinstance({var}, dict):", fail(repr("an object where a list belongs (read as one item)")),
                  f"{pad}if not isinstance({var}, list):", fail(repr("not a list")),
                  f"{pad}for {index}, {element} in enumerate({var}):"]
        _emit(item, element, (*prefix, "[", f"\0{index}", "] "), lines, names, depth + 1, counter)
    else:
        counter[0] += 1
        name, problem = f"check{counter[0]}", f"p{counter[0]}"
        names[name] = check
        lines += [f"{pad}{problem} = {name}({var})", f"{pad}if {problem}:", fail(problem)]


def compiled(check: Check) -> Check:
    """Return ``check`` compiled when it is an ``_object`` or ``_array`` check, else itself (a leaf)."""
    return _compile(check) if hasattr(check, "fields") or hasattr(check, "item") else check


_LEAVES = (_string, _number, _date, _boolean)
# An int inside +-2**1023 always converts to a finite float; outside, ``as_number`` decides (it may overflow).
_INT_BOUND = 2**1023


def _emit_leaf(check: Check, var: str, fail: Callable[[str], str], pad: str, lines: list[str],
               names: dict[str, object]) -> None:
    """Append the code of a leaf check on ``var`` with its own words; ``fail`` makes the line that reports a
    problem (a ``return``, or an assignment at the top of a resource), so each leaf is one if/elif chain."""
    if check is _string:
        lines += [f"{pad}if not isinstance({var}, str):", fail(repr("not a string"))]
    elif check is _boolean:
        lines += [f"{pad}if not isinstance({var}, bool):", fail(repr("not true or false"))]
    elif check is _number:
        # Why the test before the call: JSON numbers are ints and floats; a float is finite when v - v is
        # 0.0 (inf and nan give nan), and a bounded int converts. Anything else is as_number's to answer.
        names.update(as_number=as_number, INT_BOUND=_INT_BOUND)
        lines += [f"{pad}if not (type({var}) is float and {var} - {var} == 0.0 or type({var}) is int"
                  f" and -INT_BOUND < {var} < INT_BOUND) and as_number({var}) is None:", fail(repr("not a number"))]
    else:  # _date: parse_fhir_date of a string is _parse_date(value, False), called at once
        names["parse_date"] = _parse_date
        lines += [f"{pad}if not isinstance({var}, str):", fail(repr("not a date string")),
                  f"{pad}elif not parse_date({var}, False):", fail(f"f\"'{{{var}[:40]}}' is not a FHIR date\"")]


def _compile_type(spec: Mapping[str, Check]) -> Callable[[JSON], dict[str, str]]:
    """Return ``unreadable`` for one resource type as one generated function.

    Why: the loop over a type's listed elements (twelve for an Observation) and a call for each element
    present were a third of checking a resource. Here each listed element is tested in line, in the same
    order; a leaf is checked in line, an object or array by its compiled check. The same answers
    (``tests/test_chart_fast_paths.py`` compares them with the closures): B12 Observation of
    deficient_with_neuropathy 45.9k -> 41.0k instructions (callgrind).
    """
    lines = ["def unreadable_of_type(resource):", "    found = {}"]
    names: dict[str, object] = {}
    for number, (key, check) in enumerate(spec.items()):
        var = f"v{number}"
        lines += [f"    if {key!r} in resource:", f"        {var} = resource[{key!r}]"]
        if check in _LEAVES:
            _emit_leaf(check, var, lambda words, key=key: f"            found[{key!r}] = {words}", "        ", lines,
                       names)
        else:
            names[f"check{number}"] = compiled(check)
            lines += [f"        p{number} = check{number}({var})", f"        if p{number}:",
                      f"            found[{key!r}] = p{number}"]
    lines.append("    return found")
    namespace = dict(names)
    exec("\n".join(lines), namespace)  # code built here from SPECS, nothing else
    return namespace["unreadable_of_type"]  # type: ignore[no-any-return]


#: ``unreadable`` per resource type, compiled from SPECS (``_compile_type``).
_BY_TYPE: dict[str, Callable[[JSON], dict[str, str]]] = {kind: _compile_type(spec) for kind, spec in SPECS.items()}


def unreadable_of(kind: str) -> Callable[[JSON], dict[str, str]]:
    """Return :func:`unreadable` for resources of one checked type (a key of ``SPECS``).

    Why: a reader that has already checked the type (every Observation read) calls it without asking again.
    """
    return _BY_TYPE[kind]


def element_check(kind: str, key: str) -> Check:
    """Return the check of one element of a type (compiled): ``unreadable(resource).get(key)`` of a resource of
    that type holding ``key`` is ``element_check(kind, key)(resource[key])`` or None.

    Why: a reader that drops a resource keeps only this element's problem (an Observation that is no lab
    test keeps its ``code``'s), and need not check the others.
    """
    return _ELEMENTS[kind, key]


_ELEMENTS: dict[tuple[str, str], Check] = {(kind, key): compiled(check) for kind, spec in SPECS.items()
                                           for key, check in spec.items()}


def unreadable(resource: JSON) -> dict[str, str]:
    """Return {element: why} for each element the readers use that could not be read."""
    kind = resource.get("resourceType")
    check = _BY_TYPE.get(kind) if isinstance(kind, str) else None  # str(kind) of a JSON non-string names no type
    return check(resource) if check is not None else {}


def unreadable_notes(resource: JSON, found: Mapping[str, str], consequence: str = "") -> tuple[str, ...]:
    """Return one chart note per unreadable element, naming the resource and the element."""
    tail = f"; {consequence}" if consequence else ""
    return tuple(f"{resource_ref(as_dict(resource))}: {key} could not be read ({why}){tail}"
                 for key, why in found.items())
