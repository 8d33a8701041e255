"""The dashboard in real headless Chromium: pages, numbers, filters, downloads, message pages.

One browser and one server per database are shared by the module's tests (a server is a
thread with the app, on a free 127.0.0.1 port). Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import csv
import io
import urllib.request
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from abkit.events import EventStore
from abkit.report.plotly_bundle import TRACE_TYPES
from abkit.simulate.settings import SCALES
from dashboards.app import PARTIAL_PLOTLY_PATH
from dashboards.tables import version_windows
from tests.dashboard_world import simulate

pytestmark = [pytest.mark.browser, pytest.mark.slow]

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.browser import (  # noqa: E402
    WAIT_S,
    abkit_report,
    assert_overview_shows,
    chromium_session,
    graph_data,
    open_page,
    serve,
    set_viewport,
    severe,
    table_rows,
)

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PAGES = {
    "overview": "/",
    "over-time": "/over-time",
    "challengers": "/challengers",
    "templates": "/templates",
    "health": "/health",
}


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    yield from chromium_session()


def _day_window(first_seen: str, last_seen: str) -> tuple[datetime, datetime]:
    # The dashboard's window for a version: whole days, [first day 00:00, day after last 00:00).
    since = datetime.combine(datetime.fromisoformat(first_seen).date(), time())
    until = datetime.combine(datetime.fromisoformat(last_seen).date() + timedelta(days=1), time())
    return since, until


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A simulated database with the all-time report and v1's deployment-window report stored."""
    path = tmp_path_factory.mktemp("world") / "world.sqlite"
    simulate(path, SCALES["small"])
    report = abkit_report("--db", str(path))
    # v1's deployment over every experiment it ran in, as the version filter sets the window.
    since, until = _day_window(*version_windows(report)["v1"])
    abkit_report("--db", str(path), "--since", since.isoformat(), "--until", until.isoformat())
    return {"path": str(path), "report": report}


@pytest.fixture(scope="module")
def world_url(world) -> Iterator[str]:
    yield from serve(world["path"])


def _choose(chrome: webdriver.Chrome, dropdown_id: str, value: str) -> None:
    chrome.find_element(By.ID, dropdown_id).click()
    option = WebDriverWait(chrome, WAIT_S).until(
        lambda d: d.find_element(By.XPATH, f"//label[@role='option'][.//input[@value='{value}']]")
    )
    option.click()


def test_every_page_loads_without_console_errors(driver, world_url):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.get_log("browser")  # drop anything logged before this test
    set_viewport(driver, 1400, 1000)  # the size of the screenshots in docs/images
    for name, path in PAGES.items():
        ready = f"{name}-ready"
        open_page(driver, world_url + path, ready)
        assert driver.find_element(By.ID, ready).get_attribute("textContent") != "None", name
        WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg"))
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        assert severe(driver) == [], name
        assert "Report computed" in driver.find_element(By.ID, "snapshot-info").text


def test_pages_draw_with_the_partial_plotly_bundle_only(driver, world_url):
    # The first-visit budget relies on this: dcc.Graph uses the page's window.Plotly (the vendored
    # basic bundle) and never fetches Dash's 4.8 MB plotly.min.js.
    from plotly.offline import get_plotlyjs_version

    for name, path in PAGES.items():
        open_page(driver, world_url + path, f"{name}-ready")
        WebDriverWait(driver, WAIT_S).until(
            lambda d: all(
                g.find_elements(By.CSS_SELECTOR, ".main-svg") for g in d.find_elements(By.CLASS_NAME, "dash-graph")
            )
        )
        scripts = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)"
            ".filter(p => p.includes('plotly'))"
        )
        assert scripts == [PARTIAL_PLOTLY_PATH], name
        bundle = driver.execute_script(
            "return {version: Plotly.version, traces: Object.keys(Plotly.PlotSchema.get().traces),"
            " drawn: Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(g => g.data.map(t => t.type))}"
        )
        assert bundle["version"] == get_plotlyjs_version(), name
        assert set(bundle["traces"]) == TRACE_TYPES, name
        assert bundle["drawn"] and set(bundle["drawn"]) <= TRACE_TYPES, name


def test_overview_shows_the_report_numbers(driver, world_url, world):
    open_page(driver, world_url + "/", "overview-ready")
    assert_overview_shows(table_rows(driver, "overview-table"), world["report"]["versions"])


def _outside_viewport(chrome: webdriver.Chrome, selector: str) -> list[dict]:
    """The elements matching ``selector`` whose box is not wholly within the window's width."""
    return chrome.execute_script(
        """const width = document.documentElement.clientWidth;
           return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getBoundingClientRect())
               .filter(r => r.left < 0 || r.right > width).map(r => ({left: r.left, right: r.right, width}));""",
        selector,
    )


def test_overview_shows_each_verdict_without_horizontal_scrolling_at_1280_px(driver, world_url, world):
    report = world["report"]
    set_viewport(driver, 1280, 900)
    try:
        open_page(driver, world_url + "/", "overview-ready")
        cards = driver.find_elements(By.CSS_SELECTOR, "#overview-verdicts .abk-verdict")
        expected = [(v.get("verdict") or {}).get("decision", "n/a") for v in report["versions"]]
        expected += [(c.get("verdict") or {}).get("decision", "n/a") for c in report["comparisons"]]
        decisions = [card.find_element(By.CLASS_NAME, "abk-verdict-decision").text for card in cards]
        assert decisions == expected
        # Every card, its decision and the table's verdict cells lie within the 1280 px window.
        assert _outside_viewport(driver, "#overview-verdicts .abk-verdict, .abk-verdict-decision") == []
        verdict_cells = driver.find_elements(By.CSS_SELECTOR, "#overview-table td[data-dash-column=verdict]")
        assert len(verdict_cells) == len(report["versions"])
        assert _outside_viewport(driver, "#overview-table td[data-dash-column=verdict]") == []
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        driver.save_screenshot(str(SCREENSHOTS / "overview-1280.png"))
        assert severe(driver) == []
    finally:
        set_viewport(driver, 1400, 1000)


def test_templates_test_the_trend_over_the_top_n_they_draw(driver, world_url, world):
    from dashboards import tables

    open_page(driver, world_url + "/templates", "templates-ready")
    _choose(driver, "templates-top-n", "5")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: "top 5 templates" in d.find_element(By.CSS_SELECTOR, "#templates-graph .gtitle").text
    )
    drawn = tables.drawn_templates(tables.templates_table(world["report"], 5))
    expected = tables.template_trend(world["report"], 5)["mann_kendall"]
    trend = driver.find_element(By.ID, "templates-trend").text
    assert f"over the {len(drawn)} templates drawn" in trend
    assert f"tau {expected['tau']:.3f}" in trend
    points = graph_data(driver, "templates-graph")[0]
    assert len(points[0]) == len(drawn)
    assert severe(driver) == []


def test_version_filter_changes_the_templates_chart(driver, world_url, world):
    open_page(driver, world_url + "/templates", "templates-ready")
    all_time = driver.find_element(By.ID, "templates-ready").get_attribute("textContent")
    before = graph_data(driver, "templates-graph")
    _choose(driver, "f-version", "v1")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "templates-ready").get_attribute("textContent") not in ("", all_time)
    )
    WebDriverWait(driver, WAIT_S).until(lambda d: graph_data(d, "templates-graph") not in (None, before))
    assert "v1's window" in driver.find_element(By.CSS_SELECTOR, "#templates-graph .gtitle").text
    # Choosing a version sets the window filter to its deployment days.
    window = driver.find_element(By.CSS_SELECTOR, ".abk-filter-dates").get_attribute("innerHTML")
    first_seen, last_seen = version_windows(world["report"])["v1"]
    assert first_seen[:10] in window and last_seen[:10] in window
    assert severe(driver) == []


def test_csv_download_returns_the_table_rows(driver, world_url):
    open_page(driver, world_url + "/", "overview-ready")
    shown = table_rows(driver, "overview-table")
    href = driver.find_element(By.ID, "overview-csv").get_attribute("href")
    with urllib.request.urlopen(href, timeout=WAIT_S) as response:
        assert response.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.read().decode())))
    assert [row["model_version"] for row in rows] == [row["model_version"] for row in shown]
    assert [row["verdict"] for row in rows] == [row["verdict"] for row in shown]


def test_html_report_download(driver, world_url):
    open_page(driver, world_url + "/", "overview-ready")
    href = driver.find_element(By.ID, "html-report").get_attribute("href")
    with urllib.request.urlopen(href, timeout=WAIT_S) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<html" in response.read(4096).decode().lower()


def test_refresh_computes_a_missing_snapshot_in_the_background(driver, world_url, world):
    experiment = next(s["experiment"] for s in world["report"]["srm_by_experiment"] if s["experiment"] != "standing")
    open_page(driver, world_url + "/challengers", "challengers-ready")
    _choose(driver, "f-experiment", experiment)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: "No report is stored" in d.find_element(By.ID, "challengers-notice").text
    )
    driver.find_element(By.ID, "refresh-button").click()
    # The report is computed in the background: on a busy shared machine that takes longer than a page.
    WebDriverWait(driver, 3 * WAIT_S).until(lambda d: "Report computed" in d.find_element(By.ID, "snapshot-info").text)
    assert f"experiment {experiment}" in driver.find_element(By.ID, "snapshot-info").text
    assert driver.find_element(By.ID, "challengers-notice").text == ""
    assert severe(driver) == []


@pytest.mark.parametrize(
    ("case", "title"),
    [("missing", "Database unreachable"), ("empty", "No data yet"), ("wrong", "Not an abkit event database")],
)
def test_message_page(driver, tmp_path, case, title):
    path = tmp_path / "db.sqlite"
    if case == "empty":
        EventStore.open(str(path)).engine.dispose()
    elif case == "wrong":
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE selections (id INTEGER)")
    driver.get_log("browser")
    for url in serve(str(path)):
        driver.get(url + "/templates")
        message = WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "message-page"))
        assert message.find_element(By.TAG_NAME, "h1").text == title
        assert "Traceback" not in driver.page_source
        if case == "missing":
            assert "no SQLite file" in message.text
            driver.save_screenshot(str(SCREENSHOTS / "message.png"))
        assert severe(driver) == []


def test_events_without_a_report_offer_to_compute_the_first_one(driver, tmp_path):
    path = tmp_path / "fresh.sqlite"
    simulate(path, 4000)
    driver.get_log("browser")
    for url in serve(str(path)):
        driver.get(url + "/")
        message = WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "message-page"))
        assert message.find_element(By.TAG_NAME, "h1").text == "No report computed yet"
        driver.find_element(By.ID, "refresh-button").click()
        # The report is computed in the background; the page then reloads into the dashboard.
        WebDriverWait(driver, WAIT_S).until(
            lambda d: (
                d.find_elements(By.ID, "overview-ready")
                and d.find_element(By.ID, "overview-ready").get_attribute("textContent") not in ("", "None")
            )
        )
        # The simulator releases v1..v4 (a row per experiment each ran in).
        assert {row["model_version"] for row in table_rows(driver, "overview-table")} == {"v1", "v2", "v3", "v4"}
        assert severe(driver) == []


def test_a_report_of_another_contract_is_named_not_crashed_on(driver, tmp_path):
    from abkit.report.snapshots import store_snapshot

    path = tmp_path / "future.sqlite"
    store = EventStore.open(str(path))
    store_snapshot(store.engine, {"schema_version": 99, "versions": []})
    store.engine.dispose()
    driver.get_log("browser")
    for url in serve(str(path)):
        open_page(driver, url + "/", "overview-ready")
        info = driver.find_element(By.ID, "snapshot-info").text
        assert "Cannot read the stored reports" in info and "schema_version" in info
        assert severe(driver) == []
