"""Console commands for clinical governance: `report` (what clinicians did with the cards) and `gallery`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from .report import KindStats, Period

#: The report's period when none is given: the last 12 weeks, today included.
DEFAULT_DAYS = 84


def database_url(explicit: str | None) -> str:
    """The feedback database: --database, else CDS_FEEDBACK_DATABASE_URL, else the service's default file."""
    if explicit:
        return explicit
    if os.environ.get("CDS_FEEDBACK_DATABASE_URL"):
        return os.environ["CDS_FEEDBACK_DATABASE_URL"]
    from .app import default_database_url

    return default_database_url()


@click.command()
@click.option("--database", "database", metavar="URL",
              help="SQLAlchemy URL of the feedback database (default: CDS_FEEDBACK_DATABASE_URL, else the "
                   "service's SQLite file).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC) of the period.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC) of the period, included "
              "[default: today].")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an HTML page with charts here (needs the `report` extra: matplotlib).")
def report(database: str | None, since: datetime | None, until: datetime | None, html_path: Path | None) -> None:
    """Cards shown, accepted, overridden (by reason), not answered and suppressed, per service and card kind.

    Counts the cards shown in the period (default: the last 12 weeks) with the feedback given on them; the
    acceptance and override rates by week; the suggestions taken.
    """
    from .feedback_store import FeedbackStore
    from .report import Period, collect
    from .report.text import render_text

    last = until.date() if until else datetime.now(UTC).date()
    first = since.date() if since else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise click.BadParameter(f"--since {first} is after --until {last}")
    period = Period.of_days(first, last)
    store = FeedbackStore.from_url(database_url(database))
    try:
        stats = collect(store.engine, period)
    finally:
        store.engine.dispose()
    click.echo(render_text(stats, period), nl=False)
    if html_path is not None:
        _write_html(stats, period, html_path)


def _write_html(stats: list[KindStats], period: Period, path: Path) -> None:
    from .report.html_page import PlottingUnavailable, render_html

    try:
        page = render_html(stats, period)
    except PlottingUnavailable as exc:
        raise click.ClickException(str(exc)) from exc
    _write(path, page)
    click.echo(f"HTML report written to {path}")




@click.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the HTML page.")
@click.option("--fixtures", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Fixture scenarios with golden responses [default: the packaged fhir_fixtures].")
@click.option("--docs", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Reviewer pages [default: the packaged docs/services].")
def gallery(out: Path, fixtures: Path | None, docs: Path | None) -> None:
    """Write the card gallery: every fixture scenario's cards as an EHR shows them, for clinical sign-off."""
    from .gallery import collect_cards
    from .gallery_html import gallery_page

    _write(out, gallery_page(fixtures, docs))
    groups = collect_cards(fixtures)
    cards = sum(len(shown) for group in groups for shown in group.kinds.values())
    click.echo(f"{cards} cards of {len(groups)} services written to {out}")


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{path}: {exc.strerror or exc}") from exc
