"""Debian's Chromium, headless, driven by Selenium through /usr/bin/chromedriver: no browser is downloaded.

Without the browser the test is skipped on a developer's machine and fails under CI (CI=true), where .ci/run
installs `chromium` and `chromium-driver` with apt.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1024")


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver), or a skip (developer machine) / failure (CI) saying how to get them."""
    browser = next((path for path in CHROMIUM if Path(path).exists()), shutil.which("chromium"))
    driver = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    if not browser or not driver:
        message = "Chromium and its driver not found: `apt-get install chromium chromium-driver` (.ci/run does this)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return browser, driver


@contextmanager
def chromium(profile: Path) -> Iterator[object]:
    """A headless Chromium with a fresh profile, its console collected (goog:loggingPrefs)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_browser()
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
