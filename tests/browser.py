"""Headless Chromium for the browser tests and the dashboard benchmark: Debian's chromium and
chromedriver, started with the flags this closed network needs (no background connections)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
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


def chromium_session() -> Iterator[webdriver.Chrome]:
    """A headless Chromium for a module-scoped ``driver`` fixture; skips without Debian's chromium
    and chromium-driver."""
    if not chromium_available():
        pytest.skip("needs Debian's chromium and chromium-driver")
    chrome = headless_chrome(capture_console=True)
    yield chrome
    chrome.quit()


WAIT_S = 30  # seconds a page, a callback or a download may take


def set_viewport(chrome: webdriver.Chrome, width: int, height: int) -> None:
    """Size the window so that the page itself (the viewport) is ``width`` x ``height`` CSS pixels."""
    chrome.set_window_size(width, height)
    inner = chrome.execute_script("return [window.innerWidth, window.innerHeight]")
    chrome.set_window_size(2 * width - inner[0], 2 * height - inner[1])


def serve(database: str) -> Iterator[str]:
    """Serve the dashboard on ``database`` from a thread on a free 127.0.0.1 port; yields its URL."""
    from werkzeug.serving import make_server

    from dashboards import create_app

    server = make_server("127.0.0.1", 0, create_app(database).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def open_page(chrome: webdriver.Chrome, url: str, ready_id: str) -> None:
    """Load ``url`` and wait until the page's callback has answered (its ready marker has text)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chrome.get(url)
    WebDriverWait(chrome, WAIT_S).until(
        lambda d: d.find_elements(By.ID, ready_id) and d.find_element(By.ID, ready_id).get_attribute("textContent")
    )


def severe(chrome: webdriver.Chrome) -> list[str]:
    """The browser console's errors since the last call."""
    return [entry["message"] for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"]


def abkit_report(*args: str) -> dict:
    """``abkit report --format json --store ...``: the report the CLI prints, stored as a snapshot."""
    from click.testing import CliRunner

    from abkit.cli.main import cli

    result = CliRunner().invoke(cli, ["report", "--format", "json", "--store", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def table_rows(chrome: webdriver.Chrome, table_id: str) -> list[dict[str, str]]:
    """The cells of a DataTable on the page, one dict (column id -> text) per row."""
    rows = chrome.execute_script(
        """return Array.from(document.querySelectorAll(arguments[0] + ' tr')).map(tr => Object.fromEntries(
               Array.from(tr.querySelectorAll('td[data-dash-column]')).map(
                   td => [td.getAttribute('data-dash-column'), td.innerText.trim()])));""",
        f"#{table_id}",
    )
    return [row for row in rows if row]


def number(text: str) -> float:
    """A number as the page shows it: d3-format's Unicode minus, thousands separators, percentages."""
    cleaned = text.replace("\u2212", "-").replace(",", "")
    return float(cleaned[:-1]) / 100 if cleaned.endswith("%") else float(cleaned)


def graph_data(chrome: webdriver.Chrome, graph_id: str) -> list | None:
    """``[x, y]`` of each trace drawn in a dcc.Graph, or None before it has drawn."""
    # plotly.py sends numeric arrays as {bdata, dtype}; plotly.js keeps the decoded values in _inputArray.
    return chrome.execute_script(
        "const g = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "const values = v => v && v._inputArray ? Array.from(v._inputArray) : v;"
        "return g && g.data ? g.data.map(t => [values(t.x), values(t.y)]) : null;",
        f"#{graph_id}",
    )


def assert_overview_shows(shown: list[dict[str, str]], versions: list[dict]) -> None:
    """The Overview table has one row per (model version, experiment) of the report, with its figures."""
    from tests.dashboard_world import overview_expected

    rows = {(row["model_version"], row["experiment"], row["salt"]): row for row in shown}
    assert len(rows) == len(shown)
    assert sorted(rows) == sorted(
        (v["model_version"], v.get("experiment") or "", v.get("salt") or "") for v in versions
    )
    for version in versions:
        key = (version["model_version"], version.get("experiment") or "", version.get("salt") or "")
        for column, value in overview_expected(version).items():
            if value is None:
                assert rows[key][column] == "", (key, column)  # missing stays an empty cell
            else:
                # The page rounds (3 decimals, 3 significant digits for p, 0.1 point for shares).
                assert number(rows[key][column]) == pytest.approx(value, rel=5e-3, abs=1e-3), (key, column)
