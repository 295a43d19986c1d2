"""Fast lookups over the loaded knowledge: codes, ICD-10 prefixes, text synonyms, units."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .clinical import ClinicalKnowledge
from .models import (
    AnalytesFile,
    CodeSystemsFile,
    Conversion,
    DosingFile,
    ValueSet,
    ValueSetsFile,
)
from .text_context import TextContextRules
from .units import UnitTable


@dataclass(frozen=True)
class CodeMatch:
    """A coding that belongs to a value set."""

    value_set: str
    system_name: str  # short name, e.g. "rxnorm"
    code: str  # the code as sent (an ICD-10 prefix entry matches longer codes)
    display: str
    confidence: str

    @property
    def evidence(self) -> str:
        """Return "rxnorm:6809", flagged when the code itself is not verified."""
        flag = " (unverified code)" if self.confidence == "unverified" else ""
        return f"{self.system_name}:{self.code}{flag}"


@dataclass(frozen=True)
class TextMatch:
    """A whole-word synonym found in a piece of text."""

    value_set: str
    synonym: str
    start: int
    end: int

    @property
    def evidence(self) -> str:
        """Return "text:glucophage"."""
        return f"text:{self.synonym}"


#: Distinct (system, code, prefix) and (text, prefix) keys remembered per Knowledge; requests
#: bring arbitrary codes and texts, so the caches are bounded (least recently used dropped).
MATCH_CACHE_SIZE = 4096

_WORD = re.compile(r"[\w'\-]+")  # a word of a synonym: letters, digits, apostrophes, hyphens


def normalise_text(text: str) -> str:
    """Return ``text`` lower-cased, with typographic apostrophes and runs of spaces simplified."""
    return " ".join(text.replace("\u2019", "'").lower().split())


def _synonym_pattern(synonyms: list[str]) -> re.Pattern[str] | None:
    """Compile a whole-word alternation of ``synonyms``, longest first."""
    if not synonyms:
        return None
    alternatives = "|".join(re.escape(s) for s in sorted(synonyms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _drop_contained(matches: list[TextMatch]) -> tuple[TextMatch, ...]:
    """Drop matches lying inside a longer match of another set ("b12" inside "active b12")."""

    def inside(inner: TextMatch, outer: TextMatch) -> bool:
        return (
            outer.value_set != inner.value_set
            and outer.start <= inner.start
            and inner.end <= outer.end
            and outer.end - outer.start > inner.end - inner.start
        )

    kept = [m for m in matches if not any(inside(m, other) for other in matches)]
    return tuple(kept)


class Knowledge:
    """All knowledge files, validated and indexed: the one knowledge object the chart, rules and cards get."""

    def __init__(
        self,
        value_sets: ValueSetsFile,
        analytes: AnalytesFile,
        dosing: DosingFile,
        code_systems: CodeSystemsFile,
        clinical: ClinicalKnowledge,
    ) -> None:
        """Index the validated files; raise ValueError (naming file and field) on unit collisions."""
        self.value_sets: Mapping[str, ValueSet] = value_sets.valueSets
        # clinical.json: thresholds, durations, regimens, tests and guidelines, each with its source
        self.clinical = clinical
        self.thresholds, self.durations, self.tolerances = clinical.thresholds, clinical.durations, clinical.tolerances
        self.risk_medicines, self.regimens, self.medications = (clinical.risk_medicines, clinical.regimens,
                                                                clinical.medications)
        self.routes, self.lab_tests, self.guidelines = clinical.routes, clinical.lab_tests, clinical.guidelines
        self.lab_category, self.deficiency_reason = clinical.lab_category, clinical.deficiency_reason
        self.b12_total_molar_loinc, self.discrepancies = clinical.b12_total_molar_loinc, clinical.discrepancies
        self.analytes = analytes
        self.dosing = dosing
        self.code_systems = code_systems
        self._aliases = {
            alias: canonical
            for canonical, spec in code_systems.systems.items()
            for alias in [canonical, *spec.aliases]
        }
        self._exact: dict[tuple[str, str], list[CodeMatch]] = {}
        self._prefixes: list[tuple[str, CodeMatch]] = []
        self._class_prefixes: list[tuple[str, CodeMatch]] = []
        self._index_codes()
        self.text_context = TextContextRules(value_sets.textContext)
        self._fillers = frozenset(value_sets.textContext.anyOrderFillers)
        self._breaks = re.compile("|".join(re.escape(b) for b in value_sets.textContext.clauseBreaks))
        self._multiword = [
            (name, synonym, frozenset(_WORD.findall(synonym)))
            for name, vs in self.value_sets.items() for synonym in vs.text if len(_WORD.findall(synonym)) > 1
        ]
        self._patterns = {name: _synonym_pattern(vs.text) for name, vs in self.value_sets.items()}
        self.lab_units = {
            name: _table(spec.units, f"analytes.json: analytes.{name}.units")
            for name, spec in analytes.analytes.items()
        }
        self.dose_units = _table(dosing.doseMassToMg, "dosing.json: doseMassToMg")
        self.period_units = _table(dosing.periodToDays, "dosing.json: periodToDays")
        self._analyte_of: dict[str, str] = {}
        for name, spec in analytes.analytes.items():
            self._analyte_of.setdefault(spec.valueSet, name)
        # Why: a chart repeats the same few codes and texts (5,000 haemoglobins share one LOINC);
        # the answers are immutable tuples of frozen matches, so they are computed once per key.
        self._match_code_cached = functools.lru_cache(maxsize=MATCH_CACHE_SIZE)(self._match_code)
        self._match_text_cached = functools.lru_cache(maxsize=MATCH_CACHE_SIZE)(self._match_text)

    def _index_codes(self) -> None:
        """Build the exact (system, code) index, the ICD-10-CM prefix list and the ATC class list."""
        prefix_system = self.code_systems.icd10PrefixSystem
        classes = self.code_systems.classPrefix
        for name, vs in self.value_sets.items():
            for entry in vs.codes:
                system = self.canonical_system(entry.system)
                match = CodeMatch(name, self.system_name(system), entry.code, entry.display, entry.confidence)
                by_prefix = vs.icd10Prefix if entry.icd10Prefix is None else entry.icd10Prefix
                if by_prefix and system == prefix_system:
                    self._prefixes.append((_icd10_key(entry.code), match))
                if system == classes.system and len(entry.code.strip()) < classes.fullCodeLength:
                    # Why: an ATC class code (A02BC) names every substance below it (A02BC01 ...).
                    self._class_prefixes.append((entry.code.strip().upper(), match))
                self._exact.setdefault((system, entry.code.strip()), []).append(match)

    def canonical_system(self, system: str) -> str:
        """Return the canonical URI for ``system`` (OIDs and trailing slashes resolved)."""
        system = system.strip()
        return self._aliases.get(system, system)

    def system_name(self, system: str) -> str:
        """Return the short name of ``system`` ("rxnorm"), or the URI itself when unknown."""
        spec = self.code_systems.systems.get(self.canonical_system(system))
        return spec.name if spec else system

    def match_code(self, system: str, code: str, prefix: str = "") -> tuple[CodeMatch, ...]:
        """Return the value sets (ids starting with ``prefix``) containing this coding.

        ICD-10-CM codes also match entries of value sets flagged ``icd10Prefix`` by prefix,
        ignoring the dot ("G62.9" is in a set listing "G62"); ATC codes match a listed class
        code they start with ("A02BC01" is in a set listing "A02BC").
        """
        return self._match_code_cached(system, code, prefix)

    def _match_code(self, system: str, code: str, prefix: str) -> tuple[CodeMatch, ...]:
        """:meth:`match_code` without the cache."""
        system, code = self.canonical_system(system), code.strip()
        found = list(self._exact.get((system, code), ()))
        if system == self.code_systems.icd10PrefixSystem:
            key = _icd10_key(code)
            found += [m for p, m in self._prefixes if key.startswith(p) and m not in found]
        if system == self.code_systems.classPrefix.system:
            key = code.upper()
            found += [m for p, m in self._class_prefixes if key.startswith(p) and m not in found]
        # Evidence names the code as sent ("icd10cm:G62.9"), not the prefix it fell under.
        return tuple(replace(m, code=code) for m in found if m.value_set.startswith(prefix))

    def match_text(self, text: str, prefix: str = "") -> tuple[TextMatch, ...]:
        """Return whole-word synonym matches in ``text`` for sets whose id starts with ``prefix``.

        A match lying inside a longer match of another set is dropped, so the most specific
        synonym wins ("active b12" is holotranscobalamin, not total B12).
        """
        return self._match_text_cached(text, prefix)

    def _match_text(self, text: str, prefix: str) -> tuple[TextMatch, ...]:
        """:meth:`match_text` without the cache."""
        text = normalise_text(text)
        matches = [
            TextMatch(name, m.group(0), m.start(), m.end())
            for name, pattern in self._patterns.items()
            if pattern is not None and name.startswith(prefix)
            for m in pattern.finditer(text)
        ]
        return _drop_contained(matches)

    def match_text_any_order(self, text: str, prefix: str = "") -> tuple[TextMatch, ...]:
        """Return :meth:`match_text` matches plus multi-word synonyms found in another word order.

        Why: B12-RULES.md §7 - "Resection of terminal ileum (45 cm)" is an ileal resection. All the
        synonym's words must stand together within one clause, with only filler words
        (valuesets.json ``textContext.anyOrderFillers``) between them; the span from the first to
        the last of them is the match, so negation is judged as for a phrase.
        """
        text = normalise_text(text)
        found = list(self.match_text(text, prefix))
        have = {m.value_set for m in found}
        tokens = [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(text)]
        present = {word for word, _, _ in tokens}
        for name, synonym, words in self._multiword:
            if name in have or not name.startswith(prefix) or not words <= present:
                continue
            span = self._window(text, tokens, words)
            if span is not None:
                found.append(TextMatch(name, synonym, *span))
                have.add(name)
        return tuple(found)

    def _window(self, text: str, tokens: list[tuple[str, int, int]], words: frozenset[str]) -> tuple[int, int] | None:
        """Return the span of a run of tokens holding all ``words`` and only fillers besides, or None."""
        run: list[tuple[str, int, int]] = []
        for token in [*tokens, ("", len(text), len(text))]:
            allowed = token[0] in words or token[0] in self._fillers
            if run and (not allowed or self._breaks.search(text, run[-1][2], token[1])):
                hits = [t for t in run if t[0] in words]
                if {t[0] for t in hits} == words:
                    return hits[0][1], hits[-1][2]
                run = []
            if allowed:
                run.append(token)
        return None

    def analyte_for_value_set(self, value_set: str) -> str | None:
        """Return the analyte id whose codes live in ``value_set`` (the first, as listed)."""
        return self._analyte_of.get(value_set)


def _table(conversions: Mapping[str, Conversion], where: str) -> UnitTable:
    """Build a UnitTable; raise ValueError naming ``where`` (file and field) on a collision."""
    try:
        return UnitTable.build(conversions)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _icd10_key(code: str) -> str:
    """Return an ICD-10 code upper-cased without dot or spaces, for prefix comparison."""
    return code.replace(".", "").replace(" ", "").upper()
