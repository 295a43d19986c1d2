"""Markdown sections for card details: the values and dates used, context, data quality.

Order on every card (B12-RULES.md §9): the decision and its reason (the kind's own text), the
values used, earlier results, then at most three data-quality notes about the data the card used.
"""

from __future__ import annotations

import re

from ..chart.facts import Analyte, Comparator, DataIssue, LabResult, Problem, ProblemCategory
from ..knowledge import Knowledge
from ..rules.assessment import B12Assessment
from ..rules.labs import ISSUE_WORDS
from ..rules.medicines import DraftFinding, RiskMedicineUse
from .wording import UNIT_DISPLAY, duration, lab_number, round_numbers, unit

ANALYTE_NAMES = {
    Analyte.B12_TOTAL: "Serum B12", Analyte.B12_ACTIVE: "Active B12", Analyte.MMA: "MMA",
    Analyte.HOMOCYSTEINE: "Homocysteine", Analyte.HAEMOGLOBIN: "Haemoglobin", Analyte.MCV: "MCV",
    Analyte.PLATELETS: "Platelets", Analyte.EGFR: "eGFR", Analyte.FOLATE: "Serum folate",
}
TEST_NAMES = {Analyte.MMA: "MMA", Analyte.B12_ACTIVE: "active B12", Analyte.B12_TOTAL: "serum B12"}
MAX_NOTES = 3  # B12-RULES.md §9: at most three data-quality lines
DETAIL_MAX = 1000  # B12-RULES.md §9: every card under 1,000 characters of markdown
_MORE = "- (more in the record)"
NAME_MAX = 60  # characters of an EHR name (problem, medication) on a card line
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_\[\]()#<>|~]")
#: Three or more newlines (blank lines left by empty sections). Why not ``\n{3,}``: the same matches, but a
#: literal prefix lets the regex engine skip ahead; ``\n{3,}`` took 13 µs on a 900-character detail, this 0.6.
_BLANK_RUN = re.compile("\n\n\n+")
_REF = re.compile(r"\b(?:Observation|MedicationRequest|MedicationStatement|Medication|Condition|Procedure|Patient)"
                  r"/[A-Za-z0-9_\-.]{1,64}")
_MISSING = "data set not available: "
#: A sign as a summary names it (B12-RULES.md §4 neurological involvement); presentation only.
SIGN_WORDS = {
    ProblemCategory.NEUROPATHY: "neuropathy", ProblemCategory.MOTOR_NEUROPATHY: "motor neuropathy",
    ProblemCategory.PARAESTHESIA: "paraesthesia", ProblemCategory.ATAXIA: "unsteady gait",
    ProblemCategory.SUBACUTE_COMBINED_DEGENERATION: "subacute combined degeneration",
    ProblemCategory.COGNITIVE_IMPAIRMENT: "cognitive impairment",
}
SIGNS_NAMED = 2  # at most two signs named in a summary; more are "other signs" (the list names them all)
#: The longest a signs placeholder can be: the start-up check fills summaries with it.
SIGNS_LONGEST = "subacute combined degeneration, cognitive impairment and other signs"


def escape_markdown(text: str) -> str:
    """Return EHR text safe to place in card markdown: specials backslash-escaped, one line.

    Why: condition and medication names, reported values and notes come from the chart; a
    "[link](...)", "<tag>" or "**" in them must neither inject links nor break the card's layout.

    >>> print(escape_markdown("B12 <100 [see](x)"))
    B12 \\<100 \\[see\\]\\(x\\)
    """
    return _MARKDOWN_SPECIAL.sub(_escaped, " ".join(text.split()))


def _escaped(special: re.Match[str]) -> str:
    # Why a function, not the template r"\\\1": re expands a template per match in Python, at twice the cost.
    return "\\" + special.group()


def _section(title: str, lines: list[str]) -> str:
    # Why one join with the bullet in the separator: the same text, without a generator and an f-string a line.
    return f"**{title}**\n- " + "\n- ".join(lines) if lines else ""


def lab(result: LabResult, why: str | None = None) -> str:
    """"Serum B12 152 ng/L (reported 112 pmol/L) on 2026-07-22 (below 180 ng/L)"."""
    when = result.effective.isoformat() if result.effective else "undated"
    text = f"{ANALYTE_NAMES[result.analyte]} {_quantity(result)} on {when}"
    return f"{text} ({why.replace('umol/L', _UMOL)})" if why else text


# Read once (issue #12): an enum member read off its class is slow in Python 3.11, and a lab line is made for every
# result a card shows; the same text as ``Comparator.EQ``, ``unit("umol/L")`` and ``lab_number`` give.
_EQ = Comparator.EQ
_UMOL = unit("umol/L")


def _quantity(result: LabResult) -> str:
    if result.value is None:
        return escape_markdown(result.reported) if result.reported else "no value"
    comparator = "" if result.comparator is _EQ else escape_markdown(result.comparator.value)
    number = lab_number(result.value, result.analyte)
    text = f"{comparator}{number} {UNIT_DISPLAY.get(result.unit, result.unit)}"
    reported = result.reported.lstrip("<>=≤≥ ")
    # Why: show what the lab sent only when the chart converted it (112 pmol/L -> 152 ng/L).
    if reported and not reported.startswith(number) and result.unit not in reported:
        text += f" (reported {escape_markdown(result.reported)})"
    return text


def _problem(problem: Problem) -> str:
    since = f", since {problem.onset.isoformat()}" if problem.onset else ""
    return f"{_name(problem.display)}{since}"


def _name(text: str) -> str:
    """An EHR name, escaped and cut to one short line ("Peripheral neuropathy - numb feet, …").

    >>> _name("Polyneuropathy " + "x" * 80)[-3:]
    'xx…'
    """
    text = " ".join(text.split())
    # Why not escape_markdown: it would split and join the words again; the text is one line already.
    return _MARKDOWN_SPECIAL.sub(_escaped, text if len(text) <= NAME_MAX else text[:NAME_MAX - 1].rstrip() + "…")


def _first(lines: list[str], keep: int, what: str) -> list[str]:
    """At most ``keep`` lines of one kind; the rest counted, so a long record keeps the card short."""
    if len(lines) < 2:  # nothing to de-duplicate or count
        return lines
    lines = list(dict.fromkeys(lines))  # the same medicine recorded twice reads once
    return lines if len(lines) <= keep else [*lines[:keep], f"{len(lines) - keep} more {what}"]


def values(a: B12Assessment, kb: Knowledge) -> str:
    """The results that decided (with dates and thresholds), then the signs and risk factors."""
    s = a.status
    lines = [lab(m.result, m.explanation) for m in (s.total, s.active) if m is not None]
    if s.mma is not None:
        lines.append(lab(s.mma.result, s.mma.explanation))
    if s.renal.egfr is not None and s.mma is not None and not s.renal.applies:
        lines.append(lab(s.renal.egfr))
    lines += [f"{_name(u.display)}: B12 replacement since {u.start or 'an unrecorded date'}"
              for u in s.therapy]
    return _section("Values used", lines + _signs(a, kb))


def _signs(a: B12Assessment, kb: Knowledge) -> list[str]:
    # Why each kind only when present: most charts have none of most kinds (a third of this section's cost).
    lines: list[str] = []
    if a.neuro.problems:
        lines += _first([f"Neurological: {_problem(p)}" for p in a.neuro.problems], 2, "neurological problems")
    if a.malabsorption.problems:
        lines += _first([f"Malabsorption cause: {_problem(p)}" for p in a.malabsorption.problems], 2,
                        "malabsorption causes")
    if a.recorded_deficiency.problems:
        lines += _first([f"On the problem list: {_problem(p)}" for p in a.recorded_deficiency.problems], 1,
                        "B12 deficiency entries")
    h = a.haematology
    if h.macrocytosis is not None:
        lines.append(f"Macrocytosis: {lab(h.macrocytosis)}")
    if h.anaemia is not None:
        lines.append(f"Anaemia ({h.anaemia_by}): {lab(h.anaemia)}")
    if a.risk_medicines:
        lines += _first([_risk_medicine(r) for r in a.risk_medicines], 3, "risk medicines")
    if a.other_risks.older_than_threshold:
        lines.append(f"Age {a.other_risks.age_years} (risk factor)")
    if a.other_risks.problems:
        lines += _first([f"Risk factor: {_problem(p)}" for p in a.other_risks.problems], 2, "risk factors")
    if a.stale_low_b12 is not None:
        lines.append(f"Earlier deficient result: {lab(a.stale_low_b12)}")
    return lines


def signs(a: B12Assessment) -> str:
    """The neurological and blood-count signs the card used, named briefly ("neuropathy and macrocytosis").

    Why (B12-RULES.md §9, found in review): a summary that says "signs" names them, so a clinician
    need not hunt for them in the list; "Values used" still shows each with its date or value.
    """
    h = a.haematology
    words = [*_neuro_words(a), *(["macrocytosis"] if h.macrocytosis else []), *(["anaemia"] if h.anaemia else [])]
    return _named(words) or "neurological or blood count signs"


def neuro_signs(a: B12Assessment) -> str:
    """The neurological involvement the card used, named briefly ("neuropathy", "ataxia and paraesthesia")."""
    return _named(_neuro_words(a)) or "neurological signs"


def _neuro_words(a: B12Assessment) -> list[str]:
    return [SIGN_WORDS.get(p.category, "neurological signs") for p in a.neuro.problems]


def _named(words: list[str]) -> str:
    """Name signs once each, at most two, in the order the record gives them.

    >>> _named(["neuropathy", "neuropathy", "macrocytosis"]), _named(["paraesthesia", "macrocytosis", "anaemia"])
    ('neuropathy and macrocytosis', 'paraesthesia, macrocytosis and other signs')
    """
    words = list(dict.fromkeys(words))
    if len(words) > SIGNS_NAMED:
        return ", ".join(words[:SIGNS_NAMED]) + " and other signs"
    return " and ".join(words)


def _risk_medicine(r: RiskMedicineUse) -> str:
    """"Metformin 500 mg tablets (metformin): taken for 5 years, since 2021-05-03; a risk after 4 months".

    Why (B12-RULES.md §9, found in review): without a start date the line says so once, plainly
    ("start date not recorded"), and, when the rules counted the record anyway (the cautious
    reading), that it was counted; the rules' note on the missing start is that same fact.
    """
    start = r.course_start or r.use.start
    rule = f"a risk after {r.min_months} months" if r.min_months else "any current use is a risk"
    if start is None:
        when = "start date not recorded"
        if r.past_duration and r.min_months:
            rule = f"counted as taken for more than {r.min_months} months"
        note = None
    else:
        taken = f"taken for {duration(r.days_taken)}, " if r.days_taken is not None else ""
        when, note = f"{taken}since {start}", r.note
    if not r.use.active:
        when = f"stopped {r.use.end}, {when}" if r.use.end else f"stopped, {when}"
    extra = f"; {escape_markdown(note)}" if note else ""
    extra += "; renewed prescriptions counted as one course" if r.earlier_refs else ""
    name = _name(r.use.display) + ("" if r.use.display.strip().lower() == r.label else f" ({r.label})")
    return f"{name}: {when}; {rule}{extra}"


def context(a: B12Assessment, kb: Knowledge) -> str:
    """Older results of the B12 markers: context only, they do not decide."""
    months, future = kb.durations.lab_lookback.months, _future_refs(a)
    lines = [lab(result) + _why_context(result, months, future)
             for pick in a.status.picks for result in pick.context[:2]]
    return _section("Earlier results (context only)", lines)


def _future_refs(a: B12Assessment) -> frozenset[str]:
    """The results the rules set aside because they are dated in the future."""
    return frozenset(ref for pick in a.status.picks for ref in pick.future_dated)


def _why_context(result: LabResult, months: int, future: frozenset[str]) -> str:
    """Why an earlier result is context only: dated in the future, too old, or not usable.

    Why (B12-RULES.md §7, §9; found in review): a result dated after today is listed with the
    others but never decides; its line says so, rather than leaving it to a second note.
    """
    if result.source_ref in future:
        return _FUTURE_WHY
    if result.issues == (DataIssue.STALE,):
        return f" (over {months} months old)"
    return _NOT_USED_WHY + ", ".join(ISSUE_WORDS.get(i, i.value) for i in result.issues) + ")" if result.issues else ""


#: Why an earlier result was set aside for something other than its age: its line under "Earlier results" is the
#: card's only mention of it (``_chart_notes`` adds no second line), so ``fit`` keeps these lines.
_FUTURE_WHY = " (dated in the future; not used)"
_NOT_USED_WHY = " (not used: "


def notes(a: B12Assessment, kb: Knowledge, extra_refs: frozenset[str] = frozenset()) -> str:
    """Data-quality notes about data this card used or set aside, rounded, at most three lines.

    Why (B12-RULES.md §9): a note appears only on a card whose decision the data touched: notes
    on the B12 markers and the renal caveat always; chart notes only when they name a record the
    card used (``extra_refs`` adds the card's own, e.g. the folic acid drafts).
    """
    s = a.status
    minimum = kb.thresholds.oral_b12_therapy_min_mg_per_day
    lines = [escape_markdown(m.note) for m in (s.total, s.active) if m is not None and m.note]
    lines += [f"{_name(u.display)}: below {minimum.value:g} {minimum.unit} or no stated dose, "
              "not counted as B12 replacement" for u in a.low_dose_b12]
    missing = [n[len(_MISSING):] for n in a.notes if n.startswith(_MISSING)]
    if missing:
        lines.append("Not available from the EHR: " + ", ".join(missing))
    chart_notes = [n for n in a.notes if not n.startswith(_MISSING)]
    if chart_notes:  # Why only then: the records used are gathered for these notes alone (most cards have none)
        lines += _chart_notes(a, chart_notes, extra_refs)
    if len(lines) > MAX_NOTES:
        lines = [*lines[:MAX_NOTES - 1], f"{len(lines) - MAX_NOTES + 1} more data-quality notes on records used"]
    return _section("Data quality", lines)


def _chart_notes(a: B12Assessment, chart_notes: list[str], extra_refs: frozenset[str]) -> list[str]:
    """The chart notes that name a record the card used (or could not read), one line per record."""
    s = a.status
    marker_notes = [n for p in s.picks for n in p.notes] + list(s.renal.notes)
    refs = _used_refs(a) | extra_refs | {ref for n in marker_notes for ref in _REF.findall(n)}
    # Why: an unusable (or future-dated) result listed under "Earlier results" says why there; no second line.
    future = _future_refs(a)
    seen = {r.source_ref for pick in s.picks for r in pick.context[:2]
            if r.source_ref and (r.issues or r.source_ref in future)}
    lines = []
    for note in chart_notes:
        named = set(_REF.findall(note))
        # Why (B12-RULES.md §7): a record the rules read but could not read may have changed the decision.
        relevant = named & refs or "could not be" in note or any(ref.startswith("Patient/") for ref in named)
        if not relevant or named <= seen:
            continue  # Why: one line per record; a note on a record the card did not use is noise here
        seen |= named
        lines.append(_name_note(round_numbers(_analyte_names(note))))
    return lines


def _name_note(note: str) -> str:
    return escape_markdown(note if len(note) <= 2 * NAME_MAX else note[:2 * NAME_MAX - 1].rstrip() + "…")


def _analyte_names(note: str) -> str:
    """Chart notes name analytes by code ("b12_total 150"); a card says "Serum B12 150"."""
    for analyte, name in ANALYTE_NAMES.items():
        if "_" in analyte.value:  # "b12_total"; never inside a reference ("Observation/b12_total-1")
            note = re.sub(rf"(?<![/\w-]){analyte.value}\b", name, note)
    return note


def _used_refs(a: B12Assessment) -> set[str]:
    s = a.status
    results = [m.result for m in (s.total, s.active, s.mma) if m is not None]
    h = a.haematology
    results += [r for r in (s.renal.egfr if s.mma else None, h.macrocytosis, h.anaemia, a.stale_low_b12) if r]
    results += [r for pick in s.picks for r in pick.context]
    problems = [*a.neuro.problems, *a.malabsorption.problems, *a.recorded_deficiency.problems,
                *a.other_risks.problems, *s.renal.ckd_problems, *a.pure_motor.problems]
    uses = [*s.therapy, *a.low_dose_b12, *(r.use for r in a.risk_medicines)]
    return {x.source_ref for x in (*results, *problems, *uses) if x.source_ref}


def renal(a: B12Assessment) -> str:
    """The renal caveat sentence, when it applies (§3)."""
    r = a.status.renal
    if not r.applies:
        return ""
    evidence = [lab(r.egfr)] if r.egfr is not None else []
    evidence += [_problem(p) for p in r.ckd_problems]
    # Why: §3 caveat suggests active B12; once it is on file, point to it rather than order it again.
    advice = ("active B12 is the better test." if a.status.active is None
              else "rely on the active B12 result instead.")
    return (f"**Renal impairment** ({'; '.join(evidence)}): MMA rises when the kidneys clear less, so a "
            f"raised MMA does not establish deficiency here; {advice}")


def regimen(a: B12Assessment, kb: Knowledge, key: str) -> str:
    """The regimen in words, with malabsorption and ileal-resection advice when relevant."""
    lines = [kb.regimens[key].summary_text + "."]
    if a.malabsorption.present:
        lines.append("A malabsorption cause is on record: intramuscular only, lifelong.")
    if a.ileal_resection.present:
        lines.append(kb.regimens["hydroxocobalamin_ileal_resection"].summary_text + ".")
    return " ".join(lines)


def orders(found: tuple[DraftFinding, ...], heading: str) -> str:
    """The draft orders the card is about, and why each matters."""
    lines = [f"{escape_markdown(o.use.display)}: {o.reason}" for o in found]
    return _section(heading, lines)


def next_test(a: B12Assessment) -> str:
    tests = a.status.next_tests or (Analyte.MMA,)
    return " and ".join(TEST_NAMES[t] for t in tests)


def next_if_indeterminate(a: B12Assessment) -> str:
    """The test after an indeterminate B12 on a card that asks for B12: MMA, or active B12 under the renal caveat.

    Why (B12-RULES.md §3, renal caveat): MMA rises in renal impairment, so there active B12 is suggested
    instead; a card that shows the caveat must not name MMA as the next step beside it.
    """
    return "active B12" if a.status.renal.applies and a.status.active is None else "MMA"


def tidy(markdown: str) -> str:
    """Collapse the blank lines left by empty sections, and keep the detail under DETAIL_MAX."""
    return fit(_BLANK_RUN.sub("\n\n", markdown).strip())


def fit(markdown: str, limit: int = DETAIL_MAX) -> str:
    r"""Keep a detail under ``limit`` characters on a long record (B12-RULES.md §9).

    Earlier results go first, but not those set aside as dated in the future or not usable: their line
    is the card's only mention of them (B12-RULES.md §7: the card notes a future-dated result). Then
    the last lines of the longest list (values used, data quality), never the decision, the renal
    caveat or the folic acid order; a line says more is in the record.

    >>> text = "**Treat.**\n\n**Values used**\n" + "\n".join(f"- value {i:02}" for i in range(10))
    >>> print(fit(text, 60))
    **Treat.**
    <BLANKLINE>
    **Values used**
    - value 00
    - (more in the record)
    """
    if len(markdown) < limit:
        return markdown
    blocks = [kept for b in markdown.split("\n\n") if (kept := _set_aside_only(b))]
    while len("\n\n".join(blocks)) >= limit:
        lists = [i for i, b in enumerate(blocks)
                 if b.startswith(("**Values used", "**Data quality")) and b.count("\n- ") > 2]
        if not lists:
            break
        i = max(lists, key=lambda k: len(blocks[k]))
        lines = blocks[i].split("\n")
        del lines[-2 if lines[-1] == _MORE else -1]
        blocks[i] = "\n".join(lines if lines[-1] == _MORE else [*lines, _MORE])
    return "\n\n".join(blocks)


def _set_aside_only(block: str) -> str:
    """A block as it stays on a long card: "Earlier results" cut to the lines of results set aside for a
    reason other than age (nothing when there are none); any other block whole."""
    if not block.startswith("**Earlier results"):
        return block
    heading, *lines = block.split("\n")
    kept = [line for line in lines if line.endswith(_FUTURE_WHY) or _NOT_USED_WHY in line]
    return "\n".join([heading, *kept]) if kept else ""
