"""`b12-cds report` gives the known rates of generated feedback (PostgreSQL: test_governance_postgres.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_data import KIND, SERVICE, SUPPRESSED, WEEK_1, WEEK_2, generate

from cds_service.cli import main
from cds_service.feedback_store import FeedbackStore
from cds_service.report import Period, collect

AUGUST = Period.of_days(date(2026, 8, 3), date(2026, 8, 16))


def check_known_rates(store: FeedbackStore) -> None:
    """The rates of report_data.PLAN, whatever the database."""
    [stats] = collect(store.engine, AUGUST)
    assert (stats.service, stats.kind) == (SERVICE, KIND)
    assert (stats.shown, stats.accepted, stats.overridden, stats.no_response, stats.suppressed) == (
        100, 40, 35, 25, SUPPRESSED)
    assert dict(stats.reasons) == {"Patient declined": 25, "B12 replacement already arranged": 10}
    assert dict(stats.suggestions) == {"Hydroxocobalamin IM": 40}
    week_1, week_2 = stats.weeks[WEEK_1.date()], stats.weeks[WEEK_2.date()]
    assert (week_1.shown, week_1.rate(week_1.accepted), week_1.rate(week_1.overridden)) == (40, 0.25, 0.5)
    assert (week_2.shown, week_2.rate(week_2.accepted), week_2.rate(week_2.overridden)) == (60, 0.5, 0.25)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


def test_known_rates_on_sqlite(sqlite_url):
    store = FeedbackStore.from_url(sqlite_url)
    generate(store)
    check_known_rates(store)


def test_the_terminal_table_and_the_html_page(sqlite_url, tmp_path):
    generate(FeedbackStore.from_url(sqlite_url))
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", "--database", sqlite_url, "--since", "2026-08-03",
                                       "--until", "2026-08-16", "--html", str(page)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Cards shown 2026-08-03 to 2026-08-16 (UTC, both days included)"
    row = next(line for line in lines if line.startswith(SERVICE))
    assert row.split() == [SERVICE, KIND, "100", "40", "35", "25", "5", "40%", "35%"]
    assert any(line.split()[-3:] == ["40", "25%", "50%"] and "2026-08-03" in line for line in lines)
    assert any("Patient declined" in line and line.split()[-1] == "25" for line in lines)
    assert any("Hydroxocobalamin IM" in line and line.split()[-1] == "40" for line in lines)
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 1 and "<script" not in html
    assert "Patient declined" in html and "folate_deficient" in html


def test_an_empty_period_says_so(sqlite_url):
    result = CliRunner().invoke(main, ["report", "--database", sqlite_url, "--since", "2026-01-01",
                                       "--until", "2026-01-31"])
    assert result.exit_code == 0, result.output
    assert "No cards were recorded in this period." in result.output


def test_since_after_until_is_refused(sqlite_url):
    result = CliRunner().invoke(main, ["report", "--database", sqlite_url, "--since", "2026-02-01",
                                       "--until", "2026-01-31"])
    assert result.exit_code == 2 and "is after" in result.output

