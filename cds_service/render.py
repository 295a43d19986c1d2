"""Render a CDS Hooks response for a terminal, the way a clinician would read the cards."""

from __future__ import annotations

import re
import textwrap
from typing import Any

WIDTH = 100
MARKS = {"critical": "!!! CRITICAL", "warning": "!!  WARNING", "info": "i   INFO"}


def render_response(response: dict[str, Any], *, heading: str) -> str:
    """Return the cards as plain text: indicator, summary, detail, suggestions, overrides, links."""
    lines = [heading, "=" * min(WIDTH, max(len(heading), 20))]
    cards = response.get("cards") or []
    if not cards:
        lines += ["", "No cards: nothing to do for this patient (silence is a feature)."]
    for number, card in enumerate(cards, 1):
        lines += ["", *_card(number, card)]
    return "\n".join(lines) + "\n"


def _card(number: int, card: dict[str, Any]) -> list[str]:
    lines = [f"[{number}] {MARKS.get(card['indicator'], card['indicator'])}: {card['summary']}"]
    source = card.get("source", {})
    lines.append(f"    Source: {source.get('label', '')}" + (f" <{source['url']}>" if source.get("url") else ""))
    lines += ["", *_markdown(card.get("detail", ""))]
    suggestions = card.get("suggestions") or []
    if suggestions:
        choose = "choose one" if card.get("selectionBehavior") == "at-most-one" else "choose any"
        lines += ["", f"    Suggestions ({choose}):"]
        for suggestion in suggestions:
            star = " (recommended)" if suggestion.get("isRecommended") else ""
            lines.append(f"      - {suggestion['label']}{star}")
            lines += [f"          {_action(action)}" for action in suggestion.get("actions", [])]
    reasons = [reason.get("display", reason.get("code")) for reason in card.get("overrideReasons") or []]
    if reasons:
        lines += ["", "    Override reasons: " + "; ".join(reasons)]
    for link in card.get("links") or []:
        lines.append(f"    Link: {link['label']} <{link['url']}>")
    return lines


def _action(action: dict[str, Any]) -> str:
    if action["type"] == "delete":
        return f"delete {action.get('resourceId', '')}: {action['description']}"
    resource = action.get("resource") or {}
    return f"{action['type']} {resource.get('resourceType', '')}: {action['description']}"


def _markdown(text: str) -> list[str]:
    """Turn GitHub markdown into indented, wrapped plain text (bold markers dropped, bullets kept)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = re.sub(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*", r"\1", raw).rstrip()
        line = re.sub(r"(?<!\\)\[([^\]]+)\]\(([^)]+)\)", r"\1 <\2>", line)
        line = re.sub(r"\\(.)", r"\1", line)  # markdown escapes of chart text: show the text as sent
        if not line:
            out.append("")
            continue
        bullet = re.match(r"^(\s*)[-*] (.*)$", line)
        if bullet:
            out += textwrap.wrap(bullet.group(2), WIDTH - 8, initial_indent="    • ", subsequent_indent="      ")
        else:
            out += textwrap.wrap(line, WIDTH - 4, initial_indent="    ", subsequent_indent="    ")
    return out
