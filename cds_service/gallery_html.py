"""Draw the card gallery as one static HTML page, as an EHR shows cards. No script: text is escaped, markdown
is rendered by markdown-it-py with raw HTML off (so HTML in card text is shown as text), and only http(s) links
are made into links. The page sets a Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from .gallery import KindDoc, ServiceCards, ShownCard, collect_cards, kind_docs

#: No script, no remote anything: inline styles and data: images only (in the page, so the file keeps it too).
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
#: As an HTTP header the service adds what a <meta> policy cannot carry: no framing by other sites.
CONTENT_SECURITY_POLICY = f"{PAGE_POLICY}; frame-ancestors 'none'"
INDICATOR_LABELS = {"critical": "Critical", "warning": "Warning", "info": "Info"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1.5rem;color:#1d1d1f}
h1{font-size:1.6rem}h2{border-bottom:2px solid #ddd;padding-bottom:.3rem;margin-top:2.5rem}h3{margin-top:1.8rem}
.kind-doc{color:#444;margin:.2rem 0 1rem}.card{border:1px solid #ccc;border-left:8px solid #999;border-radius:6px;
padding:.8rem 1rem;margin:1rem 0;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card.critical{border-left-color:#c62828}.card.warning{border-left-color:#ef8f00}.card.info{border-left-color:#1565c0}
.badge{display:inline-block;font-size:.75rem;font-weight:700;text-transform:uppercase;padding:.1rem .5rem;
border-radius:3px;color:#fff;background:#666;margin-right:.5rem}.critical .badge{background:#c62828}
.warning .badge{background:#ef8f00}.info .badge{background:#1565c0}.summary{font-weight:600;font-size:1.05rem}
.scenario{font-size:.85rem;color:#555;margin:.4rem 0}.detail{margin:.6rem 0}.source{font-size:.85rem;color:#555}
.suggestion{border:1px solid #ddd;border-radius:4px;padding:.4rem .7rem;margin:.4rem 0;background:#f7f9fc}
.recommended{color:#2e7d32;font-weight:600}pre{white-space:pre-wrap;font-size:.75rem;background:#f4f4f4;padding:.5rem}
.silent{color:#555;font-size:.9rem}nav ul{columns:2}
"""

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_gallery(services: Sequence[ServiceCards], pages: Mapping[str, str], kinds: Mapping[str, KindDoc]) -> str:
    """The whole page: a contents list, then per service its cards grouped by kind, then its silent scenarios."""
    total = sum(len(cards) for group in services for cards in group.kinds.values())
    title = "b12-cds card gallery"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
             f"<meta http-equiv='Content-Security-Policy' content=\"{PAGE_POLICY}\">",
             "<link rel='icon' href='data:,'>",
             f"<style>{STYLE}</style></head><body><h1>{title}</h1>",
             f"<p>{total} cards from the fixture scenarios' golden responses, as each service answers them, grouped "
             "by service and card kind, for clinical sign-off before go-live.</p>", _contents(services)]
    for group in services:
        parts.append(_service(group, pages.get(group.service, ""), kinds))
    parts.append("</body></html>")
    return "\n".join(parts)


def _contents(services: Sequence[ServiceCards]) -> str:
    items = "".join(f"<li><a href='#{_anchor(g.service, kind)}'>{escape(g.service)}: {escape(kind or '-')}</a> "
                    f"({len(cards)})</li>" for g in services for kind, cards in g.kinds.items())
    return f"<nav><h2>Contents</h2><ul>{items}</ul></nav>"


def _service(group: ServiceCards, page: str, kinds: Mapping[str, KindDoc]) -> str:
    where = f" (reviewer page: docs/services/{escape(page)})" if page else ""
    parts = [f"<section class='service' id='{_anchor(group.service)}'><h2>{escape(group.service)}{where}</h2>"]
    for kind, cards in group.kinds.items():
        doc = kinds.get(kind)
        parts.append(f"<section class='kind' id='{_anchor(group.service, kind)}'><h3>{escape(kind or '-')}</h3>")
        if doc:
            parts.append(f"<p class='kind-doc'><strong>When</strong> (docs/services/{escape(doc.page)}): "
                         f"{_inline(doc.when)}. <strong>Indicator:</strong> {_inline(doc.indicator)}.</p>")
        parts.extend(_card(shown) for shown in cards)
        parts.append("</section>")
    if group.silent:
        items = "".join(f"<li>{escape(title)}</li>" for title in group.silent)
        parts.append(f"<details class='silent'><summary>No card (silence) in {len(group.silent)} scenarios"
                     f"</summary><ul>{items}</ul></details>")
    parts.append("</section>")
    return "\n".join(parts)


def _card(shown: ShownCard) -> str:
    card = shown.card
    indicator = str(card.get("indicator", ""))
    css = indicator if indicator in INDICATOR_LABELS else "unknown"
    source = card.get("source") or {}
    parts = [f"<article class='card {css}' data-kind='{escape(shown.kind)}' data-scenario='{escape(shown.scenario)}'>",
             f"<div><span class='badge'>{escape(INDICATOR_LABELS.get(indicator, indicator))}</span>"
             f"<span class='summary'>{escape(str(card.get('summary', '')))}</span></div>",
             f"<p class='scenario'><strong>Scenario</strong> {escape(shown.scenario)} ({escape(shown.hook)}): "
             f"{escape(shown.title)}<br><strong>Rule</strong> {escape(shown.rule)}</p>"]
    if card.get("detail"):
        parts.append(f"<div class='detail'>{_markdown.render(str(card['detail']))}</div>")
    parts.append(_suggestions(card))
    reasons = card.get("overrideReasons") or []
    if reasons:
        items = "".join(f"<li>{escape(str(r.get('display', r.get('code', ''))))}</li>" for r in reasons)
        parts.append(f"<div class='reasons'><strong>Override reasons</strong><ul>{items}</ul></div>")
    links = card.get("links") or []
    if links:
        items = "".join(f"<li>{_link(str(link.get('url', '')), str(link.get('label', '')))}</li>" for link in links)
        parts.append(f"<div class='links'><strong>Links</strong><ul>{items}</ul></div>")
    topic = source.get("topic") or {}
    parts.append(f"<p class='source'>Source: {_link(str(source.get('url', '')), str(source.get('label', '')))}"
                 f"<br>Kind: {escape(str(topic.get('code', '-')))} ({escape(str(topic.get('display', '')))})</p>")
    parts.append("</article>")
    return "\n".join(parts)


def _suggestions(card: Mapping[str, Any]) -> str:
    suggestions = card.get("suggestions") or []
    if not suggestions:
        return ""
    choose = "choose one" if card.get("selectionBehavior") == "at-most-one" else "choose any"
    parts = [f"<div class='suggestions'><strong>Suggestions</strong> ({choose})"]
    for suggestion in suggestions:
        recommended = " <span class='recommended'>recommended</span>" if suggestion.get("isRecommended") else ""
        actions = "".join(_action(action) for action in suggestion.get("actions") or [])
        parts.append(f"<div class='suggestion'><div>{escape(str(suggestion.get('label', '')))}{recommended}</div>"
                     f"<ul>{actions}</ul></div>")
    parts.append("</div>")
    return "".join(parts)


def _action(action: Mapping[str, Any]) -> str:
    kind = str(action.get("type", ""))
    text = f"{escape(kind)}: {escape(str(action.get('description', '')))}"
    if action.get("resourceId"):
        text += f" <code>{escape(str(action['resourceId']))}</code>"
    resource = action.get("resource")
    if isinstance(resource, Mapping):
        body = escape(json.dumps(resource, indent=2, ensure_ascii=False))
        text += (f"<details><summary>{escape(str(resource.get('resourceType', 'resource')))} created</summary>"
                 f"<pre>{body}</pre></details>")
    return f"<li>{text}</li>"


def _link(url: str, label: str) -> str:
    """A link only to http(s) addresses; anything else is shown as text."""
    if url.startswith(("https://", "http://")):
        return f"<a href='{escape(url, quote=True)}' rel='noopener noreferrer'>{escape(label or url)}</a>"
    return escape(label or url)


def _inline(text: str) -> str:
    return _markdown.renderInline(text)


def _anchor(*parts: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else "-" for ch in part) for part in parts) or "x"


def gallery_page(fixtures: Path | None = None, docs: Path | None = None) -> str:
    """The gallery of the given (default: the packaged or checked-out) fixtures and reviewer pages."""
    if fixtures is None and docs is None:
        return _default_page()
    return render_gallery(collect_cards(fixtures), *kind_docs(docs))


@functools.cache
def _default_page() -> str:
    """Built once per process: the fixtures and pages do not change while the service runs."""
    return render_gallery(collect_cards(), *kind_docs())
