"""The HTML report of a demo-sized world: self-contained, under 1.5 MB, and drawn by a real browser.

The world is the one `abkit demo` simulates (scale "default", about 200,000 selections, seed 7).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from abkit.events import EventStore
from abkit.report.build import build_report
from abkit.report.plotly_bundle import VENDORED, unusable_reason
from abkit.report.render_html import render_html
from abkit.simulate.run import simulate_into
from abkit.simulate.settings import settings_for_scale
from tests.browser import WAIT_S, chromium_session, severe

pytestmark = pytest.mark.slow
MAX_BYTES = 1_500_000  # issue #21: a self-contained HTML report under about 1.5 MB


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("demo_html")
    store = EventStore.open(str(directory / "events.sqlite"))
    simulate_into(store, settings_for_scale("default"), 7, progress=False)
    path = directory / "report.html"
    path.write_text(render_html(build_report(store.engine)), encoding="utf-8")
    return path


def test_demo_report_is_self_contained_and_small(demo_html):
    page = demo_html.read_text(encoding="utf-8")
    assert unusable_reason() is None  # the partial bundle is the one embedded, not plotly's full one
    bundle = VENDORED.read_text(encoding="utf-8")
    assert page.count(bundle) == 1
    around = page.replace(bundle, "")
    assert "<script src=" not in around and "cdn.plot.ly" not in around  # nothing fetched from the network
    assert len(page.encode("utf-8")) < MAX_BYTES


@pytest.fixture(scope="module")
def driver():
    yield from chromium_session()


@pytest.mark.browser
def test_demo_report_draws_in_headless_chromium_without_console_errors(driver, demo_html):
    driver.get_log("browser")  # drop anything logged before this test
    driver.get(demo_html.as_uri())
    WebDriverWait(driver, WAIT_S).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= 3
    )
    drawn = driver.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(g => g.data.map(t => t.type))"
    )
    assert drawn == [["bar"], ["scatter", "scatter"], ["scatter", "scatter"]]
    assert severe(driver) == []
