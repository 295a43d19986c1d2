"""The card gallery: every fixture card, drawn safely, served behind the API's JWT, and seen in Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import FIXTURES, ROOT, registered_services
from live_service import running_service, service_config
from test_api_auth import bearer, secured, token  # noqa: F401  (the JWT-protected app fixture)

from cds_service.cli import main
from cds_service.gallery import collect_cards, kind_docs
from cds_service.gallery_html import gallery_page

ARTIFACTS = ROOT / "test-artifacts"


def golden_cards() -> list[tuple[str, str]]:
    """(scenario, card uuid) of every card in the golden responses."""
    return [(path.parent.name, card["uuid"]) for path in sorted(FIXTURES.glob("*/*.response.json"))
            for card in json.loads(path.read_text(encoding="utf-8"))["cards"]]


def test_every_golden_card_is_on_the_page_grouped_by_service_and_kind():
    page = gallery_page()
    assert page.count("<article class='card ") == len(golden_cards()) > 50
    groups = collect_cards()
    assert [g.service for g in groups] == sorted(service.id for service in registered_services())
    assert {kind for g in groups for kind in g.kinds} == {
        "deficient_neuro", "deficient", "indeterminate", "not_tested", "reassess", "pure_motor",
        "folate_deficient", "folate_indeterminate", "folate_not_tested_risk", "folate_not_tested",
        "metformin_monitoring"}
    scenario = json.loads((FIXTURES / "folic_acid_ordered_b12_deficient" / "scenario.json").read_text())
    assert scenario["title"] in page  # the scenario's title and rule, escaped
    assert "triggering folic acid + B12 deficient" in page  # the kind's "when", from docs/services
    assert "<strong>" in page and "Override reasons" in page and "MedicationRequest/fad-draft-fa" in page
    assert "<script" not in page


def test_every_kind_is_described_by_its_reviewer_page():
    pages, kinds = kind_docs()
    assert pages["folic-acid-safety-sign"] == "folic-acid-safety.md"
    assert {kind for g in collect_cards() for kind in g.kinds} <= set(kinds)


def test_card_text_cannot_inject_markup(tmp_path: Path):
    scenario = tmp_path / "hostile"
    scenario.mkdir()
    (scenario / "scenario.json").write_text(json.dumps({
        "title": "<img src=x onerror=alert(1)>", "rule": "<b>r</b>", "calls": [{"service": "b12-status",
                                                                              "hook": "patient-view"}]}))
    card = {"uuid": "u", "indicator": "critical\" onmouseover=\"x", "summary": "<script>alert(1)</script>",
            "detail": "<script>alert(2)</script> [click](javascript:alert(3)) **bold**",
            "source": {"label": "<i>s</i>", "url": "javascript:alert(4)", "topic": {"code": "k'><script>"}},
            "links": [{"label": "l", "url": "javascript:alert(5)"}],
            "suggestions": [{"label": "<b>x</b>", "actions": [{"type": "create", "description": "<u>d</u>",
                                                               "resource": {"resourceType": "<script>"}}]}]}
    (scenario / "b12-status.response.json").write_text(json.dumps({"cards": [card]}))
    page = gallery_page(tmp_path, tmp_path)
    assert re.search(r"<(script|img|i|u|b)[ >]", page) is None
    assert "javascript:" not in page.replace("javascript:alert(3)", "")  # markdown keeps it as plain text only
    assert "href=\"javascript" not in page and "href='javascript" not in page
    assert "<strong>bold</strong>" in page


def test_the_command_writes_the_page(tmp_path: Path):
    out = tmp_path / "gallery" / "cards.html"
    result = CliRunner().invoke(main, ["gallery", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{len(golden_cards())} cards of 4 services" in result.output
    assert out.read_text(encoding="utf-8") == gallery_page()


def test_the_service_serves_it_without_scripts(client):
    response = client.get("/gallery")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.get_data(as_text=True) == gallery_page()


def test_the_gallery_is_behind_the_jwt_when_auth_is_on(secured):  # noqa: F811
    assert secured.get("/gallery").status_code == 401
    assert secured.get("/gallery", headers=bearer(token("/gallery"))).status_code == 200


def test_every_card_is_visible_in_chromium_without_console_errors(tmp_path: Path):
    from browser import chromium
    from selenium.webdriver.common.by import By

    expected = golden_cards()
    config = service_config(tmp_path, __import__("helpers").FIXED_NOW, [])
    with running_service(config) as live, chromium(tmp_path / "profile") as driver:
        driver.get(f"{live.url}/gallery")
        assert driver.title == "b12-cds card gallery"
        cards = driver.find_elements(By.CSS_SELECTOR, "article.card")
        assert len(cards) == len(expected)
        hidden = [card.get_attribute("data-scenario") for card in cards
                  if not card.is_displayed() or card.size["height"] < 40]
        assert hidden == []
        assert sorted(c.get_attribute("data-scenario") for c in cards) == sorted(s for s, _ in expected)
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        screenshot = tmp_path / "gallery.png"
        # The whole page, beyond the window (Chrome DevTools Protocol), for a reviewer to look at.
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ARTIFACTS / "gallery.png")
    assert (ARTIFACTS / "gallery.png").stat().st_size > 10_000




def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    import browser

    monkeypatch.setattr(browser, "CHROMIUM", ("/nonexistent/chromium",))
    monkeypatch.setattr(browser, "CHROMEDRIVER", "/nonexistent/chromedriver")
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium chromium-driver"):
        browser.find_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        browser.find_browser()
