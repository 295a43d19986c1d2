"""The report as one self-contained HTML page with inline SVG charts (matplotlib, the `report` extra)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape

from .data import KindStats, Period
from .text import COLUMNS, percent

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#1d1d1f}table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}td.n{text-align:right}figure{margin:1rem 0}"""


class PlottingUnavailable(RuntimeError):
    """matplotlib is not installed (pip install 'b12-cds[report]')."""


def render_html(stats: Sequence[KindStats], period: Period) -> str:
    """The summary table, a chart of weekly rates per service and kind, override reasons and suggestions."""
    title = f"b12-cds card report: {period.label()}"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"]
    if not stats:
        parts.append("<p>No cards were recorded in this period.</p>")
    else:
        parts.append(_table(COLUMNS, [
            (s.service, s.kind or "-", s.shown, s.accepted, s.overridden, s.no_response, s.suppressed,
             percent(s.rate(s.accepted)), percent(s.rate(s.overridden))) for s in stats]))
        for s in stats:
            parts.append(_section(s))
    parts.append("</body></html>")
    return "\n".join(parts)


def _section(s: KindStats) -> str:
    heading = f"<h2>{escape(s.service)}: {escape(s.kind or '-')}</h2>"
    chart = f"<figure>{weekly_chart(s)}<figcaption>Acceptance and override rates by week</figcaption></figure>" \
        if s.weeks else ""
    reasons = _table(("override reason", "cards"), sorted(s.reasons.items())) if s.reasons else ""
    taken = _table(("suggestion taken", "times"), sorted(s.suggestions.items())) if s.suggestions else ""
    return heading + chart + reasons + taken


def weekly_chart(s: KindStats) -> str:
    """Inline SVG: accepted and overridden shares of the cards shown, per week."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display; must precede pyplot
        from matplotlib import pyplot
    except ImportError as exc:
        raise PlottingUnavailable("the HTML report draws charts with matplotlib: pip install 'b12-cds[report]'") \
            from exc
    weeks = sorted(s.weeks)
    labels = [week.isoformat() for week in weeks]
    figure, axes = pyplot.subplots(figsize=(7, 2.8))
    try:
        for name, attribute in (("accepted", "accepted"), ("overridden", "overridden")):
            values = [100 * (s.weeks[w].rate(getattr(s.weeks[w], attribute)) or 0) for w in weeks]
            axes.plot(labels, values, marker="o", label=name)
        axes.set_ylim(0, 100)
        axes.set_ylabel("% of cards shown")
        axes.set_xlabel("week starting")
        axes.legend()
        axes.tick_params(axis="x", labelrotation=30)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    finally:
        pyplot.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    numeric = isinstance(value, int) or (isinstance(value, str) and value.endswith("%"))
    return f"<td class='n'>{escape(str(value))}</td>" if numeric else f"<td>{escape(str(value))}</td>"
