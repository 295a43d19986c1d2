"""fhir_fixtures/README.md names every scenario directory, and its opening count is the number of them."""

from __future__ import annotations

import re

from helpers import FIXTURES

README = (FIXTURES / "README.md").read_text(encoding="utf-8")
SCENARIOS = sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())


def test_every_scenario_is_described() -> None:
    assert [name for name in SCENARIOS if f"`{name}`" not in README] == []


def test_the_count_is_right() -> None:
    opening = re.search(r"^(\d+) synthetic patients, one directory per clinical scenario: (\d+) in the table below, "
                        r"and the (\d+)\s+sandbox-captured, (\d+) Synthea-shaped and (\d+) metformin-monitoring",
                        README, re.MULTILINE)
    assert opening, "the README's opening sentence changed: keep the count in it"
    total, *parts = (int(n) for n in opening.groups())
    assert total == len(SCENARIOS) == sum(parts)
