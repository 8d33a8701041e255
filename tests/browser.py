"""Headless Chromium for the browser tests and the dashboard benchmark: Debian's chromium and
chromedriver, started with the flags this closed network needs (no background connections)."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HEADLESS_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def chromium_available() -> bool:
    """Whether Debian's chromium and chromium-driver are installed."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def headless_chrome(*, capture_console: bool = False) -> webdriver.Chrome:
    """A headless Chromium driven by chromedriver; ``capture_console`` keeps the browser's console log."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in HEADLESS_FLAGS:
        options.add_argument(flag)
    if capture_console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
