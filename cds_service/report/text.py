"""The report as plain-text tables for a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from .data import KindStats, Period

COLUMNS = ("service", "card kind", "shown", "accepted", "overridden", "no response", "suppressed",
           "accepted %", "overridden %")


def percent(value: float | None) -> str:
    """A rate as a whole-number percentage, '-' when there is no denominator.

    >>> percent(0.25), percent(None), percent(2 / 3)
    ('25%', '-', '67%')
    """
    return "-" if value is None else f"{value * 100:.0f}%"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Align columns: text left, numbers right."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(str(h))
              for i, h in enumerate(header)]
    numeric = [all(_is_number(row[i]) for row in cells) and bool(cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric, strict=True)).rstrip()

    return "\n".join([line([str(h) for h in header]), line(["-" * w for w in widths]), *map(line, cells)])


def render_text(stats: Sequence[KindStats], period: Period) -> str:
    """Summary per service and kind, then override reasons, weekly rates and suggestions taken."""
    heading = f"Cards shown {period.label()}"
    if not stats:
        return f"{heading}\n\nNo cards were recorded in this period.\n"
    parts = [heading, "", table(COLUMNS, [
        (s.service, s.kind or "-", s.shown, s.accepted, s.overridden, s.no_response, s.suppressed,
         percent(s.rate(s.accepted)), percent(s.rate(s.overridden))) for s in stats])]
    reasons = [(s.service, s.kind, reason, n) for s in stats for reason, n in sorted(s.reasons.items())]
    if reasons:
        parts += ["", "Override reasons", table(("service", "card kind", "reason", "cards"), reasons)]
    weeks = [(s.service, s.kind, monday.isoformat(), w.shown, percent(w.rate(w.accepted)),
              percent(w.rate(w.overridden))) for s in stats for monday, w in sorted(s.weeks.items())]
    if weeks:
        parts += ["", "By week (week starting Monday, by the day the card was shown)",
                  table(("service", "card kind", "week of", "shown", "accepted %", "overridden %"), weeks)]
    taken = [(s.service, s.kind, label, n) for s in stats for label, n in sorted(s.suggestions.items())]
    if taken:
        parts += ["", "Suggestions taken", table(("service", "card kind", "suggestion", "times"), taken)]
    return "\n".join(parts) + "\n"


def _is_number(cell: str) -> bool:
    return cell.rstrip("%").replace(".", "", 1).isdigit() or cell == "-"
