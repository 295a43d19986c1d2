"""The card gallery for clinical sign-off: every fixture scenario's cards, as the service answers them.

The cards come from the golden responses (``fhir_fixtures/<scenario>/<service>.response.json``), which the test
suite keeps equal to what the service answers; the scenario's title and rule from its ``scenario.json``; what
each card kind is for from the reviewer pages (``docs/services``, section 5 "Cards", column "when").
``gallery_html`` draws them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .fixture_loader import default_fixtures_dir


@dataclass(frozen=True)
class ShownCard:
    """One card of one fixture call."""

    scenario: str  # the fixture directory's name
    title: str
    rule: str
    hook: str
    card: dict[str, Any]

    @property
    def kind(self) -> str:
        """The card kind (``source.topic.code``)."""
        return str(((self.card.get("source") or {}).get("topic") or {}).get("code") or "")


@dataclass
class ServiceCards:
    """A service's cards grouped by kind, and the scenarios where it stays silent."""

    service: str
    page: str = ""  # its reviewer page under docs/services, when known
    kinds: dict[str, list[ShownCard]] = field(default_factory=dict)
    silent: list[str] = field(default_factory=list)  # scenario titles with no card


@dataclass(frozen=True)
class KindDoc:
    """What a reviewer page says a card kind is for."""

    page: str
    indicator: str
    when: str


def default_docs_dir() -> Path:
    """The reviewer pages: packaged copy first (wheel install), then the checkout's docs/services."""
    packaged = Path(__file__).resolve().parent / "_docs" / "services"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "docs" / "services"


def collect_cards(fixtures: Path | None = None) -> list[ServiceCards]:
    """Every golden response's cards, per service (in name order), then per kind (in order of appearance)."""
    directory = Path(fixtures) if fixtures else default_fixtures_dir()
    services: dict[str, ServiceCards] = {}
    for scenario_file in sorted(directory.glob("*/scenario.json")):
        scenario = json.loads(scenario_file.read_text(encoding="utf-8"))
        for call in scenario.get("calls", []):
            golden = scenario_file.parent / f"{call['service']}.response.json"
            if not golden.is_file():
                continue
            group = services.setdefault(call["service"], ServiceCards(call["service"]))
            cards = json.loads(golden.read_text(encoding="utf-8")).get("cards", [])
            if not cards:
                group.silent.append(scenario.get("title", scenario_file.parent.name))
            for card in cards:
                shown = ShownCard(scenario_file.parent.name, scenario.get("title", ""), scenario.get("rule", ""),
                                  call.get("hook", ""), card)
                group.kinds.setdefault(shown.kind, []).append(shown)
    return [services[name] for name in sorted(services)]


_ROW = re.compile(r"^\|\s*`([a-z0-9_-]+)`\s*\|(.*)\|\s*$")
_CELL = re.compile(r"(?<!\\)\|")
_LINK = re.compile(r"\[[^\]]*\]\(([^)]+\.md)\)")


def kind_docs(docs: Path | None = None) -> tuple[dict[str, str], dict[str, KindDoc]]:
    """From the reviewer pages: service id -> page, and card kind -> (page, indicator, when).

    Read from the index's service table and each page's section 5 table, whose rows start with the kind.
    Missing pages give empty maps: the gallery then shows the scenarios' own rules only.
    """
    directory = Path(docs) if docs else default_docs_dir()
    index = directory / "README.md"
    pages: dict[str, str] = {}
    if index.is_file():
        for line in index.read_text(encoding="utf-8").splitlines():
            row, link = _ROW.match(line), _LINK.search(line)
            if row and link:
                pages[row.group(1)] = link.group(1)
    kinds: dict[str, KindDoc] = {}
    for page in sorted(set(pages.values())):
        path = directory / page
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        cards_section = text.split("\n## 5. Cards", 1)[1].split("\n## ", 1)[0] if "\n## 5. Cards" in text else ""
        for line in cards_section.splitlines():
            row = _ROW.match(line)
            if row:
                cells = [cell.strip().replace("\\|", "|") for cell in _CELL.split(row.group(2))]
                if len(cells) >= 2:
                    kinds[row.group(1)] = KindDoc(page, cells[0], cells[1])
    return pages, kinds
