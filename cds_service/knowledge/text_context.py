"""Is a synonym found in problem text really the patient's problem? Negation, query, family history.

A reduced NegEx (Chapman et al. 2001): a cue counts only inside the clause holding the synonym,
before it ("no neuropathy", "?neuropathy") or after it ("neuropathy screening negative").
Family-history cues count anywhere: the whole entry is then about a relative.
"""

from __future__ import annotations

import re

from .models import TextContext


def _cue_pattern(cues: list[str]) -> re.Pattern[str]:
    """Compile cues longest first; word-character edges must be whole-word edges ("no" not "nodule")."""

    def one(cue: str) -> str:
        before = r"(?<!\w)" if cue[0].isalnum() else ""
        after = r"(?!\w)" if cue[-1].isalnum() else ""
        return before + re.escape(cue) + after

    return re.compile("|".join(one(c) for c in sorted(cues, key=len, reverse=True)))


class TextContextRules:
    """The compiled cues of valuesets.json ``textContext``."""

    def __init__(self, spec: TextContext) -> None:
        self.spec = spec
        self._before = _cue_pattern(spec.negationBefore)
        self._after = _cue_pattern(spec.negationAfter)
        self._family = _cue_pattern(spec.familyHistory)
        self._breaks = re.compile("|".join(re.escape(b) for b in spec.clauseBreaks))

    def is_family_history(self, text: str) -> bool:
        """True when normalised ``text`` says the problem is a relative's ("FH: pernicious anaemia")."""
        return bool(self._family.search(text))

    def is_negated(self, text: str, start: int, end: int) -> bool:
        """True when the synonym at ``text[start:end]`` is negated or queried within its clause.

        >>> from cds_service.knowledge import load_knowledge
        >>> rules = load_knowledge().text_context
        >>> text = "diabetic neuropathy screening negative"
        >>> rules.is_negated(text, 0, 19)
        True
        >>> text = "peripheral neuropathy, no improvement"
        >>> rules.is_negated(text, 0, 21)
        False
        """
        clause_start = max((m.end() for m in self._breaks.finditer(text, 0, start)), default=0)
        following = self._breaks.search(text, end)
        clause_end = following.start() if following else len(text)
        return bool(self._before.search(text[clause_start:start]) or self._after.search(text[end:clause_end]))
