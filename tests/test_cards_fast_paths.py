"""The cards' faster ways give the answers of the plain ones they replaced (docs/performance.md, fifth round).

The plain versions are spelled out here as they stood before, and compared over varied and malformed input.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date

import orjson
import pytest
from builders.facts import b12, chart, days_ago, egfr, lab, med, mma, pregnancy, problem
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cds_service.cards import detail
from cds_service.cards.detail import escape_markdown, tidy
from cds_service.chart.facts import Analyte, DataIssue, DataSet, MedicationClass, ProblemCategory
from cds_service.knowledge import load_knowledge
from cds_service.protocol.response import (
    Action,
    Card,
    CDSResponse,
    Coding,
    Indicator,
    Link,
    Source,
    Suggestion,
    to_json,
)

# --- markdown text: escaping and blank lines ---------------------------------------------------------------

_PIECES = ["\n", "\n\n", "\n\n\n", "\n\n\n\n\n", " ", "\t", "\r\n", "**Values used**", "- a line", "x" * 90,
           "\\", "`", "*", "_", "[", "]", "(", ")", "#", "<", ">", "|", "~", "µmol/L", "–", "é", "\u2028", "{x}"]
_texts = st.lists(st.sampled_from(_PIECES) | st.text(max_size=12), max_size=40).map("".join)


def _escape_markdown_as_before(text: str) -> str:
    return re.sub(r"([\\`*_\[\]()#<>|~])", r"\\\1", " ".join(text.split()))


def _tidy_as_before(markdown: str) -> str:
    from cds_service.cards.detail import fit
    return fit(re.sub(r"\n{3,}", "\n\n", markdown).strip())


@settings(max_examples=500, deadline=None)
@given(_texts)
def test_escape_markdown_as_before(text: str) -> None:
    assert escape_markdown(text) == _escape_markdown_as_before(text)


@settings(max_examples=500, deadline=None)
@given(_texts)
def test_tidy_as_before(text: str) -> None:
    assert tidy(text) == _tidy_as_before(text)


def test_tidy_long_detail_as_before() -> None:
    text = "**Treat.**\n\n\n\n**Values used**\n" + "\n".join(f"- value {i:03}" for i in range(120)) + "\n\n\n"
    assert tidy(text) == _tidy_as_before(text)


# --- the response dump ---------------------------------------------------------------------------------------

_text = st.sampled_from(["a", "Check B12", "µg [x](y)", "x" * 120, " "])
_urls = st.sampled_from(["https://www.nice.org.uk/guidance/ng239", "HTTPS://Example.com:443/a/../b?q=1 2",
                         "https://bnf.nice.org.uk/drugs/hydroxocobalamin/", "http://localhost:8080"])
_codings = st.builds(Coding, system=_text, code=_text, display=st.none() | _text)
#: What a suggested resource holds: JSON values (orjson parsed its template: no tuples, no infinities).
_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
            | st.floats(allow_nan=False, allow_infinity=False))
_json_values = st.recursive(_scalars | _text,
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                            max_leaves=8)
_resources = st.dictionaries(_text, _json_values, min_size=1, max_size=4)
_actions = (st.builds(Action, type=st.sampled_from(["create", "update"]), description=_text, resource=_resources,
                      resourceId=st.none() | _text)
            | st.builds(Action, type=st.just("delete"), description=_text, resource=st.none() | _resources,
                        resourceId=_text))
_suggestions = st.builds(Suggestion, label=_text, uuid=_text, isRecommended=st.none() | st.booleans(),
                         actions=st.lists(_actions, max_size=3))
_links = (st.builds(Link, label=_text, url=_urls, type=st.just("absolute"), autolaunchable=st.none() | st.booleans())
          | st.builds(Link, label=_text, url=_urls, type=st.just("smart"), appContext=st.none() | _text,
                      autolaunchable=st.none() | st.booleans()))
_sources = st.builds(Source, label=_text, url=st.none() | _urls, icon=st.none() | _urls, topic=st.none() | _codings)


@st.composite
def _cards(draw: st.DrawFn) -> Card:
    suggestions = draw(st.lists(_suggestions, max_size=3))
    behaviour = draw(st.sampled_from(["any", "at-most-one"]) if suggestions else st.none() | st.just("any"))
    if behaviour == "at-most-one":
        suggestions = [s.model_copy(update={"isRecommended": i == 0 and s.isRecommended})
                       for i, s in enumerate(suggestions)]
    card = Card(uuid=draw(_text), summary=draw(st.sampled_from(["Check B12", "x" * 139])),
                detail=draw(st.none() | _text), indicator=draw(st.sampled_from(list(Indicator))),
                source=draw(_sources), suggestions=suggestions, selectionBehavior=behaviour,
                overrideReasons=draw(st.lists(_codings.filter(lambda c: c.display is not None), max_size=3)),
                links=draw(st.lists(_links, max_size=3)))
    if draw(st.booleans()):  # as the renderer's lead note makes one; the indicator as the enum itself
        card = card.model_copy(update={"summary": "Lead", "indicator": draw(st.sampled_from(list(Indicator)))})
    return card


@settings(max_examples=150, deadline=None)
@given(st.lists(_cards(), max_size=3), st.lists(_actions, max_size=2), st.booleans())
def test_response_dump_as_pydantic(cards: list[Card], system_actions: list[Action], twice: bool) -> None:
    response = CDSResponse(cards=cards, systemActions=system_actions)
    expected = response.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    expected.setdefault("cards", [])
    for _ in range(2 if twice else 1):  # the shared parts' dumps are kept: a second dump is the same
        dumped = to_json(response)
        assert dumped == expected
        assert orjson.dumps(dumped) == orjson.dumps(expected)  # the same keys in the same order
    for card in cards:
        assert to_json(card) == card.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


def test_response_dump_is_the_callers_to_change() -> None:
    """The shared parts are dumped once; a body changed by its caller leaves the next dump as it was."""
    source = Source(label="NICE", url="https://www.nice.org.uk/guidance/ng239",
                    topic=Coding(system="https://example.org/kinds", code="deficient"))
    link = Link(label="NICE NG239", url="https://www.nice.org.uk/guidance/ng239", type="absolute")
    card = Card(uuid="c-1", summary="Check B12", indicator="info", source=source, links=[link])
    first = to_json(CDSResponse(cards=[card]))
    first["cards"][0]["source"]["topic"]["code"] = "changed"
    first["cards"][0]["source"]["label"] = "changed"
    first["cards"][0]["links"][0]["label"] = "changed"
    assert to_json(CDSResponse(cards=[card])) == CDSResponse(cards=[card]).model_dump(
        mode="json", exclude_none=True, exclude_defaults=True)


# --- data-quality notes ------------------------------------------------------------------------------------

KB = load_knowledge()


def _notes_as_before(a, kb, extra_refs=frozenset()) -> str:
    """``detail.notes`` as it was before the records used were gathered only for chart notes."""
    s = a.status
    minimum = kb.thresholds.oral_b12_therapy_min_mg_per_day
    lines = [escape_markdown(m.note) for m in (s.total, s.active) if m is not None and m.note]
    lines += [f"{detail._name(u.display)}: below {minimum.value:g} {minimum.unit} or no stated dose, "
              "not counted as B12 replacement" for u in a.low_dose_b12]
    marker_notes = [n for p in s.picks for n in p.notes] + list(s.renal.notes)
    refs = detail._used_refs(a) | extra_refs | {ref for n in marker_notes for ref in detail._REF.findall(n)}
    missing = [n[len(detail._MISSING):] for n in a.notes if n.startswith(detail._MISSING)]
    if missing:
        lines.append("Not available from the EHR: " + ", ".join(missing))
    future = detail._future_refs(a)
    seen = {r.source_ref for pick in s.picks for r in pick.context[:2]
            if r.source_ref and (r.issues or r.source_ref in future)}
    for note in a.notes:
        named = set(detail._REF.findall(note))
        relevant = named & refs or "could not be" in note or any(ref.startswith("Patient/") for ref in named)
        if note.startswith(detail._MISSING) or not relevant or named <= seen:
            continue
        seen |= named
        lines.append(detail._name_note(detail.round_numbers(detail._analyte_names(note))))
    if len(lines) > detail.MAX_NOTES:
        lines = [*lines[:detail.MAX_NOTES - 1],
                 f"{len(lines) - detail.MAX_NOTES + 1} more data-quality notes on records used"]
    return detail._section("Data quality", lines)


_labs = st.lists(st.one_of(
    st.builds(lambda v, d: b12(v, on=days_ago(d)), st.sampled_from([90.0, 150.0, 250.0, 400.0, 900.0]),
              st.sampled_from([-3, 5, 200, 500, 1400])),
    st.builds(lambda v, d: mma(v, on=days_ago(d)), st.sampled_from([0.2, 0.5, 0.9]), st.sampled_from([5, 900])),
    st.builds(lambda v: egfr(v), st.sampled_from([20.0, 45.0, 90.0])),
    st.builds(lambda v: lab(Analyte.B12_TOTAL, v, issues=(DataIssue.UNKNOWN_UNIT,)), st.just(150.0)),
    st.builds(lambda v: lab(Analyte.MCV, v), st.sampled_from([85.0, 105.0]))), max_size=6)
_problems = st.lists(st.builds(problem, st.sampled_from(list(ProblemCategory)),
                               onset=st.sampled_from([days_ago(30), days_ago(400), days_ago(4000)])), max_size=7)
_meds = st.lists(st.builds(med, st.sampled_from([MedicationClass.METFORMIN, MedicationClass.PPI, MedicationClass.H2RA,
                                                 MedicationClass.COLCHICINE, MedicationClass.B12_THERAPY]),
                           start=st.none() | st.sampled_from([days_ago(20), days_ago(900), days_ago(3000)]),
                           active=st.booleans()), max_size=5)
_NOTE_TEMPLATES = ["{ref}: b12_total 150.123456 could not be read", "{ref}: unit not recognised", "{ref} duplicate",
                   "Patient/p1: birth date missing", "data set not available: blood count", "b12_total without a date",
                   "{ref} and {ref}: conflicting values"]


@settings(max_examples=300, deadline=None)
@given(_labs, _problems, st.lists(st.sampled_from(_NOTE_TEMPLATES), max_size=5), st.data())
def test_notes_as_before(labs, problems, templates, data) -> None:
    refs = [r.source_ref for r in (*labs, *problems)] + ["Observation/elsewhere-1", "MedicationRequest/draft-1"]
    notes = [t.format(ref=data.draw(st.sampled_from(refs))) for t in templates]
    missing = data.draw(st.sets(st.sampled_from(list(DataSet)), max_size=2))
    from cds_service.rules import assess
    a = assess(chart(labs=labs, problems=problems, notes=notes, missing=missing), KB)
    extra = data.draw(st.sampled_from([frozenset(), frozenset({"MedicationRequest/draft-1"})]))
    assert detail.notes(a, KB, extra) == _notes_as_before(a, KB, extra)


def _signs_as_before(a, kb) -> list[str]:
    """``detail._signs`` as it was before each kind was read only when present."""
    first, problem_line, lab_line = detail._first, detail._problem, detail.lab
    lines = first([f"Neurological: {problem_line(p)}" for p in a.neuro.problems], 2, "neurological problems")
    lines += first([f"Malabsorption cause: {problem_line(p)}" for p in a.malabsorption.problems], 2,
                   "malabsorption causes")
    lines += first([f"On the problem list: {problem_line(p)}" for p in a.recorded_deficiency.problems], 1,
                   "B12 deficiency entries")
    h = a.haematology
    if h.macrocytosis is not None:
        lines.append(f"Macrocytosis: {lab_line(h.macrocytosis)}")
    if h.anaemia is not None:
        lines.append(f"Anaemia ({h.anaemia_by}): {lab_line(h.anaemia)}")
    lines += first([detail._risk_medicine(r) for r in a.risk_medicines], 3, "risk medicines")
    if a.other_risks.older_than_threshold:
        lines.append(f"Age {a.other_risks.age_years} (risk factor)")
    lines += first([f"Risk factor: {problem_line(p)}" for p in a.other_risks.problems], 2, "risk factors")
    if a.stale_low_b12 is not None:
        lines.append(f"Earlier deficient result: {lab_line(a.stale_low_b12)}")
    return lines


def _first_as_before(lines: list[str], keep: int, what: str) -> list[str]:
    lines = list(dict.fromkeys(lines))
    return lines if len(lines) <= keep else [*lines[:keep], f"{len(lines) - keep} more {what}"]


@settings(max_examples=300, deadline=None)
@given(_labs, _problems, _meds, st.sampled_from([date(1940, 1, 1), date(1980, 6, 1), None]))
def test_signs_as_before(labs, problems, meds, birth) -> None:
    from cds_service.rules import assess
    a = assess(chart(labs=labs, problems=problems, meds=meds, birth=birth), KB)
    assert detail._signs(a, KB) == _signs_as_before(a, KB)


@given(st.lists(st.sampled_from(["a", "b", "c", "a b"]), max_size=6), st.integers(1, 3))
def test_first_as_before(lines: list[str], keep: int) -> None:
    assert detail._first(list(lines), keep, "lines") == _first_as_before(list(lines), keep, "lines")


# --- suggestions validated with their card -------------------------------------------------------------------

def _card_with(suggestion: dict) -> Card:
    from builders.cards import card_context

    from cds_service.cards.common import make_card, wording
    from cds_service.cards.texts import card_texts
    from cds_service.rules.services import rule_module

    module, ctx = card_context("b12-status")
    words = wording(card_texts(rule_module(module), ctx.texts, KB), KB, "deficient")
    return make_card(ctx, words, Indicator.WARNING, "B12 deficiency", "**Treat.**", [suggestion])


@pytest.mark.parametrize("suggestion", [
    {"label": "", "uuid": "s-1", "actions": []},
    {"label": "Order MMA", "uuid": "", "actions": []},
    {"label": "Order MMA", "uuid": "s-1", "actions": [{"type": "create", "description": "Order MMA"}]},
    {"label": "Remove", "uuid": "s-1", "actions": [{"type": "delete", "description": "Remove the draft order: x"}]},
    {"label": "Remove", "uuid": "s-1", "actions": [{"type": "delete", "description": "", "resourceId": "X/1"}]},
    {"label": "Order MMA", "uuid": "s-1", "actions": [{"type": "create", "description": "Order MMA",
                                                       "resource": {"resourceType": "ServiceRequest"}, "extra": 1}]},
])
def test_a_bad_suggestion_still_fails_its_card(suggestion: dict) -> None:
    """Suggestions are validated as part of their card: every check of Suggestion and Action still runs."""
    with pytest.raises(ValidationError):
        _card_with(suggestion)


def test_a_card_holds_its_suggestions_as_models() -> None:
    card = _card_with({"label": "Order MMA", "uuid": "s-1", "isRecommended": True, "actions": [
        {"type": "create", "description": "Order MMA", "resource": {"resourceType": "ServiceRequest"}}]})
    assert type(card.suggestions[0]) is Suggestion and type(card.suggestions[0].actions[0]) is Action
    assert card.selectionBehavior == "any"


# --- suggested resources: a fresh copy through JSON per call, from templates built once ---------------------------

def _from_template_as_before(resource_type: str, template: bytes, ctx) -> dict:
    """``resources._from_template`` as it was: the template kept as JSON, parsed afresh for each resource."""
    from cds_service.cards import resources
    return {"resourceType": resource_type, **resources._common(ctx), **orjson.loads(template)}


def _containers(node, found: list) -> list:
    if isinstance(node, dict | list):
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            _containers(child, found)
    return found


def _context(patient: str, encounter: str | None, user: str | None):
    from cds_service.cards import CardContext
    return CardContext(service_id="b12-status", hook="patient-view", patient_id=patient, encounter_id=encounter,
                       user_id=user, selections=(), texts={}, new_uuid=lambda: "u")


_contexts = st.builds(_context, st.sampled_from(["p1", "dwn-patient", "A.b-9"]),
                      st.none() | st.sampled_from(["e1", ""]),
                      st.none() | st.sampled_from(["Practitioner/x", "PractitionerRole/y", "Patient/z", "", "x"]))


@settings(max_examples=60, deadline=None)
@given(_contexts)
def test_suggested_resources_as_before(ctx) -> None:
    """Every regimen phase and lab test the cards can suggest: the same resource, keys in the same order, and a
    fresh copy each time (no dict or list shared with the template or an earlier call)."""
    from cds_service.cards import resources
    templates = resources._templates(KB)
    bodies = {**{step: ("MedicationRequest", resources._medication_body(step, KB))
                 for regimen in KB.regimens.values() for step in regimen.steps},
              **{test: ("ServiceRequest", resources._service_body(test, KB)) for test in KB.lab_tests.values()}}
    assert set(bodies) == set(templates.resources)
    for key, (resource_type, body) in bodies.items():
        before = _from_template_as_before(resource_type, orjson.dumps(body), ctx)
        made, again = (templates.resources[key](resources._common(ctx)) for _ in range(2))
        assert made == before and orjson.dumps(made) == orjson.dumps(before)
        assert not {id(c) for c in _containers(made, [])} & {id(c) for c in _containers(again, [])}
        assert not {id(c) for c in _containers(made, [])} & {id(c) for c in _containers(body, [])}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, _json_values, min_size=1, max_size=5), st.sampled_from(["ServiceRequest", "X"]),
       st.dictionaries(st.sampled_from(["status", "subject", "encounter"]), _json_values, max_size=3))
def test_a_template_builds_its_json(body: dict, resource_type: str, references: dict) -> None:
    from cds_service.cards import resources
    template = orjson.dumps(body)
    made = resources._template(resource_type, orjson.loads(template))(references)
    expected = {"resourceType": resource_type, **references, **orjson.loads(template)}
    assert made == expected and orjson.dumps(made) == orjson.dumps(expected)


def test_a_template_refuses_what_json_cannot_hold() -> None:
    from cds_service.cards import resources
    for bad in ({"a": (1, 2)}, {"a": {1: "x"}}, {"a": b"x"}):
        with pytest.raises(TypeError):
            resources._template("X", bad)


# --- lab lines, names and sections --------------------------------------------------------------------------------

def _section_as_before(title: str, lines: list[str]) -> str:
    return f"**{title}**\n" + "\n".join(f"- {line}" for line in lines) if lines else ""


def _name_as_before(text: str) -> str:
    text = " ".join(text.split())
    return escape_markdown(text if len(text) <= detail.NAME_MAX else text[:detail.NAME_MAX - 1].rstrip() + "…")


def _quantity_as_before(result) -> str:
    from cds_service.cards.wording import lab_number, unit
    from cds_service.chart.facts import Comparator
    if result.value is None:
        return escape_markdown(result.reported) if result.reported else "no value"
    comparator = "" if result.comparator is Comparator.EQ else escape_markdown(result.comparator.value)
    number = lab_number(result.value, result.analyte)
    text = f"{comparator}{number} {unit(result.unit)}"
    reported = result.reported.lstrip("<>=≤≥ ")
    if reported and not reported.startswith(number) and result.unit not in reported:
        text += f" (reported {escape_markdown(result.reported)})"
    return text


def _lab_as_before(result, why=None) -> str:
    from cds_service.cards.wording import unit
    when = result.effective.isoformat() if result.effective else "undated"
    text = f"{detail.ANALYTE_NAMES[result.analyte]} {_quantity_as_before(result)} on {when}"
    return text + (f" ({why.replace('umol/L', unit('umol/L'))})" if why else "")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=8), st.lists(_texts, max_size=4))
def test_sections_as_before(title: str, lines: list[str]) -> None:
    assert detail._section(title, lines) == _section_as_before(title, lines)


@settings(max_examples=500, deadline=None)
@given(_texts | st.text(min_size=55, max_size=70))
def test_names_as_before(text: str) -> None:
    assert detail._name(text) == _name_as_before(text)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(list(Analyte)), st.none() | st.floats(0, 5000, allow_nan=False),
       st.sampled_from(["=", "<", "<=", ">", ">="]), st.none() | st.sampled_from(["", "112 pmol/L", "<0.5", "x*_"]),
       st.none() | st.sampled_from([days_ago(3), date(2020, 2, 29)]),
       st.none() | st.sampled_from(["below 180 ng/L", "above the lab upper limit 0.4 umol/L", ""]))
def test_lab_lines_as_before(analyte, value, comparator, reported, on, why) -> None:
    result = lab(analyte, value if value is not None else 1.0, comparator=comparator, reported=reported, on=on)
    if value is None:
        result = dataclasses.replace(result, value=None)
    if on is None:
        result = dataclasses.replace(result, effective=None)
    assert detail.lab(result, why) == _lab_as_before(result, why)


# --- a card's placeholders filled from the fields its texts use; a lead note before the card is checked ---------

class _SectionsAsBefore(dict):
    """``common.Sections`` as it was: each placeholder computed when ``str.format_map`` first asks for it."""

    def __init__(self, a, kb, values) -> None:
        super().__init__(values)
        self._a, self._kb = a, kb

    def __missing__(self, key: str) -> str:
        from cds_service.cards.common import SECTIONS
        if key not in SECTIONS:
            raise KeyError(key)
        value = self[key] = SECTIONS[key](self._a, self._kb)
        return value


class _DecisionSectionsAsBefore(_SectionsAsBefore):
    """``render._DecisionSections`` as it was: the decision's own sections first, on first use."""

    def __init__(self, decision, texts, kb, values) -> None:
        super().__init__(decision.evidence, kb, values)
        self._decision, self._texts = decision, texts

    def __missing__(self, key: str) -> str:
        from cds_service.cards.render import _OWN
        own = _OWN.get(key)
        if own is None:
            return super().__missing__(key)
        value = self[key] = own(self._decision, self._texts, self._kb)
        return value


def _make_card_as_before(ctx, texts, kb, kind, indicator, values, suggestions, selection, *, variant, applies):
    """``common.make_card`` as it was: the wording picked, its texts filled from a lazy mapping, then checked."""
    from cds_service.cards.common import topic
    text = texts.kinds[kind]
    wording = text.variants.get(variant) if variant else None
    summary = wording.summary if wording else text.summary
    body = wording.detail if wording and wording.detail else text.detail
    source = text.card_source or texts.source
    reasons = tuple(Coding(system=texts.override_reason_system, code=code, display=texts.override_reasons[code].display)
                    for code in text.override_reasons
                    if texts.override_reasons[code].when is None or texts.override_reasons[code].when in applies)
    links = tuple(Link(label=kb.guidelines[g].label, url=kb.guidelines[g].url, type="absolute") for g in text.links)
    return Card(uuid=ctx.new_uuid(), summary=summary.format_map(values), detail=tidy(body.format_map(values)),
                indicator=indicator,
                source=Source(label=source.label, url=kb.guidelines[source.guideline].url,
                              topic=topic(kind, wording.source if wording else text.source)),
                suggestions=suggestions, selectionBehavior=selection if suggestions else None,
                overrideReasons=reasons, links=links)


def _render_as_before(decision, ctx, texts, kb) -> Card:
    """``render.render`` as it was: the card checked, then a lead note put in with ``model_copy``."""
    from cds_service.cards.render import _INDICATOR, _fact, _suggestion
    suggestions = [_suggestion(offer, ctx, texts, kb) for offer in decision.offers]
    facts = {k: _fact(v) for k, v in decision.facts.items()} if decision.facts else {}
    values = _DecisionSectionsAsBefore(decision, texts, kb, facts)
    card = _make_card_as_before(ctx, texts, kb, decision.kind, _INDICATOR[decision.level], values, suggestions,
                                "at-most-one" if decision.alternatives else "any", variant=decision.variant,
                                applies=decision.applies)
    if decision.lead is not None:
        note = texts.lead_notes[decision.lead or ""]
        rest = card.detail.split("\n\n", 1)[1] if "\n\n" in card.detail else ""
        lead = note.text.format(decision=decision.evidence.status.reason)
        card = card.model_copy(update={"summary": note.summary, "detail": tidy(f"{lead}\n\n{rest}")})
    return card.about([o.use.source_ref for o in decision.orders]) if decision.orders else card


_DRAFT_REFS = ("MedicationRequest/folic-1", "MedicationRequest/metformin-draft")
_folic_acid = st.builds(lambda dose: med(MedicationClass.FOLIC_ACID, ingredient="folic acid", dose_mg=dose, draft=True,
                                         ref=_DRAFT_REFS[0]), st.sampled_from([None, 0.05, 0.4, 5.0, 15.0]))
_metformin = st.just(med(MedicationClass.METFORMIN, ingredient="metformin", draft=True, ref=_DRAFT_REFS[1]))
_b12_draft = st.just(med(MedicationClass.B12_THERAPY, ingredient="hydroxocobalamin", draft=True))
#: Each service's drafts: mostly the one it is about, sometimes B12 alongside or nothing to judge.
_DRAFTS = {"b12-status": st.just([]),
           "folic-acid-safety-sign": st.lists(_folic_acid | _b12_draft, min_size=1, max_size=2),
           "folic-acid-safety-select": st.lists(_folic_acid | _b12_draft, min_size=1, max_size=2),
           "metformin-b12-monitoring": st.lists(_metformin | _b12_draft, min_size=1, max_size=2)}
_long_metformin = st.lists(st.builds(lambda days: med(MedicationClass.METFORMIN, ingredient="metformin",
                                                      start=days_ago(days)), st.sampled_from([60, 400, 1500])),
                           max_size=1)
_record_problems = st.lists(st.one_of(
    st.builds(problem, st.sampled_from(list(ProblemCategory)), onset=st.sampled_from([days_ago(30), days_ago(400)])),
    st.builds(pregnancy)), max_size=4)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(_DRAFTS)), _labs, _record_problems, _meds, _long_metformin,
       st.sets(st.sampled_from(list(DataSet)), max_size=2), st.lists(st.sampled_from(_NOTE_TEMPLATES), max_size=2),
       st.data())
def test_cards_as_before(service, labs, problems, meds, metformin, missing, templates, data) -> None:
    """Every decision of every service over generated charts: the same card, byte for byte, and the same drafts
    it is about, whether its placeholders are filled lazily (before) or from its texts' fields (now)."""
    from builders.cards import card_context
    from helpers import service_definition

    from cds_service.cards.render import render
    from cds_service.cards.texts import card_texts
    from cds_service.rules.decision import Call
    from cds_service.rules.services import rule_module

    meds = [*meds, *metformin]
    refs = [r.source_ref for r in (*labs, *problems, *meds)] + list(_DRAFT_REFS)
    notes = [t.format(ref=data.draw(st.sampled_from(refs))) for t in templates]
    record = chart(labs=labs, problems=problems, meds=meds, drafts=data.draw(_DRAFTS[service]), missing=missing,
                   notes=notes)
    definition = service_definition(service)
    module, before = card_context(service, selections=_DRAFT_REFS)
    _, now = card_context(service, selections=_DRAFT_REFS)
    texts = card_texts(rule_module(module), before.texts, KB)
    call = Call(hook=definition.hook, selections=_DRAFT_REFS, parameters=definition.parameters)
    try:
        decisions = rule_module(module).decide(record, KB, call)
    except TypeError:  # an undated usable result beside a dated one cannot be ordered (test_rules_fast_paths)
        return
    for decision in decisions:
        expected, card = _render_as_before(decision, before, texts, KB), render(decision, now, texts, KB)
        assert orjson.dumps(to_json(card)) == orjson.dumps(to_json(expected))
        assert card.about_drafts == expected.about_drafts


def test_a_lead_note_is_checked_with_its_card() -> None:
    """The folic acid card lowered for pregnancy: its note's summary and lead paragraph, as before."""
    from builders.cards import card_context

    from cds_service.cards.render import render
    from cds_service.cards.texts import card_texts
    from cds_service.rules.decision import Call
    from cds_service.rules.services import rule_module

    record = chart(labs=[b12(250.0)], problems=[pregnancy()],
                   drafts=[med(MedicationClass.FOLIC_ACID, ingredient="folic acid", dose_mg=0.4, draft=True)])
    module, before = card_context("folic-acid-safety-sign")
    _, now = card_context("folic-acid-safety-sign")
    texts = card_texts(rule_module(module), before.texts, KB)
    decision, = rule_module(module).decide(record, KB, Call(hook="order-sign"))
    assert decision.lead == "pregnancy"
    card, expected = render(decision, now, texts, KB), _render_as_before(decision, before, texts, KB)
    assert card.summary == texts.lead_notes["pregnancy"].summary
    assert orjson.dumps(to_json(card)) == orjson.dumps(to_json(expected))
