"""A walkthrough-scale world (every event within minutes or hours) on the Over time page.

The report chooses the timeline's grain from the data's span; the page must draw every bucket
it gives, the cumulative saving whenever a bucket has one, and ticks labelled to the grain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from dashboards import timeline
from dashboards.timeline_figure import over_time
from tests.dashboard_world import write_short_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.browser import (  # noqa: E402
    WAIT_S,
    abkit_report,
    chromium_session,
    graph_data,
    open_page,
    serve,
    severe,
)

# A tick label per grain as the page writes it, e.g. "Dec 03 09:00", "Dec 03", "Nov 30, 2026";
# never plotly's sub-second fallback ("23:59:59.9995") of a one-point date axis.
TICK = {
    "hour": re.compile(r"^[A-Z][a-z]{2} \d{2} \d{2}:00$"),
    "day": re.compile(r"^[A-Z][a-z]{2} \d{2}$"),
    "week": re.compile(r"^[A-Z][a-z]{2} \d{2}, \d{4}$"),
}


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    yield from chromium_session()


@pytest.fixture(scope="module", params=[timedelta(minutes=20), timedelta(hours=5)], ids=["20-minutes", "5-hours"])
def short_world(request, tmp_path_factory) -> Iterator[dict]:
    path = tmp_path_factory.mktemp("short") / "short.sqlite"
    write_short_world(path, request.param)
    report = abkit_report("--db", str(path))
    for url in serve(str(path)):
        yield {"report": report, "url": url, "span": request.param}


def test_the_figure_has_every_bucket_and_ticks_by_grain(short_world):
    report = short_world["report"]
    grain = timeline.timeline_grain(report)
    buckets = timeline.timeline_table(report)
    figure = over_time(buckets, grain, timeline.releases_table(report), timeline.phases_table(report))
    assert len(buckets) >= 1 and len(figure.data[0].x) == len(buckets)
    assert figure.layout.xaxis.tickformat == timeline.TICK_FORMAT[grain]
    assert figure.layout.xaxis.dtick % timeline.GRAIN_MS[grain] == 0  # ticks on whole buckets
    # Minutes or hours of data are drawn by the hour: five hours give several points, not one week.
    assert grain == "hour"
    if short_world["span"] >= timedelta(hours=2):
        assert len(buckets) > 1
    cumulative = figure.data[2]
    assert "markers" in cumulative.mode and cumulative.y[-1] > 0


def test_the_over_time_page_draws_the_timeline_and_the_cumulative_saving(driver, short_world):
    report = short_world["report"]
    grain = timeline.timeline_grain(report)
    buckets = timeline.timeline_table(report)
    driver.get_log("browser")
    open_page(driver, short_world["url"] + "/over-time", "over-time-ready")
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#over-time-graph .xaxislayer-above text")
    )
    with_suggestions, without, cumulative = graph_data(driver, "over-time-graph")[:3]
    assert len(with_suggestions[0]) == len(without[0]) == len(buckets)
    assert cumulative[1] and cumulative[1][-1] == pytest.approx(buckets["cumulative_seconds_saved"].iloc[-1])
    # Drawn, not only in the data: the cumulative trace has a visible marker per bucket.
    markers = driver.find_elements(By.CSS_SELECTOR, "#over-time-graph .subplot.x2y2 .scatterlayer .point")
    assert len(markers) == len(buckets)
    ticks = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#over-time-graph .xaxislayer-above text") if t.text]
    assert ticks and all(TICK[grain].match(tick) for tick in ticks), ticks
    assert severe(driver) == []
