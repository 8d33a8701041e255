"""Figures drawn from the report fixture: the right traces, markers and fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from dashboards import figures, tables, theme

REPORT = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())


def test_delta_forest_draws_each_version_with_its_interval():
    frame = tables.overview_table(REPORT)
    figure = figures.delta_forest(frame, "model_version", "t")
    trace = figure.data[0]
    assert list(trace.y) == ["v1", "v2", "v3"]
    assert list(trace.x) == [-5.63, -6.14, -3.79]
    # error bars reach the CI bounds: -5.63 + 0.51 = -5.12, -5.63 - 0.51 = -6.14
    assert trace.error_x.array[0] == pytest.approx(0.51) and trace.error_x.arrayminus[0] == pytest.approx(0.51)
    assert trace.marker.color[0] == theme.GOOD


def test_delta_forest_without_deltas_says_so():
    figure = figures.delta_forest(tables.overview_table({}), "model_version", "t")
    assert figure.data == () and "No delta" in figure.layout.annotations[0].text


def test_over_time_has_both_arms_cumulative_saving_and_release_markers():
    figure = figures.over_time(tables.weekly_table(REPORT), tables.releases_table(REPORT))
    names = [trace.name for trace in figure.data]
    assert names == ["with suggestions", "without suggestions (holdout)", "cumulative seconds saved"]
    assert [a.text for a in figure.layout.annotations if a.text in ("v1", "v2", "v3")] == ["v1", "v2", "v3"]
    assert len(figure.layout.shapes) == 3


def test_templates_scatter_skips_templates_without_a_saving_and_shows_the_trend():
    frame = tables.templates_table(REPORT)
    figure = figures.templates_scatter(frame, REPORT["templates"]["mann_kendall"], "")
    assert len(figure.data[0].x) == 7  # T0008 has no holdout selections
    assert "increasing" in figure.layout.annotations[0].text and "Sen slope 9.1" in figure.layout.annotations[0].text


def test_mann_kendall_text_reports_a_missing_result():
    assert figures.mann_kendall_text({"missing": "fewer than 3 templates"}) == "Mann-Kendall: fewer than 3 templates"


def test_health_figures():
    daily = tables.daily_events_table(REPORT)
    events = figures.events_per_day(daily)
    holdout = [t for t in events.data if t.name.endswith("/ holdout")][0]
    assert holdout.line.color == theme.WITHOUT_SUGGESTIONS and events.layout.yaxis.type == "log"
    latency = figures.latency_bars(tables.latency_table(REPORT))
    assert [t.name for t in latency.data] == ["p50", "p90", "p99", "max"]
    assert latency.layout.shapes[0].y0 == figures.LATENCY_BUDGET_MS
    assert figures.latency_bars(pd.DataFrame(columns=tables.LATENCY_COLUMNS)).data == ()


def test_weekly_means_get_a_95_percent_interval_when_the_report_gives_sd():
    report = {
        "weekly": [
            {"week_start": "2026-01-05", "arm_kind": "treatment", "n": 100, "mean_s": 13.0, "sd_s": 5.0},
            {"week_start": "2026-01-05", "arm_kind": "holdout", "n": 4, "mean_s": 19.0, "sd_s": 4.0},
        ]
    }
    figure = figures.over_time(tables.weekly_table(report), tables.releases_table(report))
    # 1.96 * 5 / sqrt(100) and 1.96 * 4 / sqrt(4), worked by hand
    assert figure.data[0].error_y.array[0] == pytest.approx(0.98, abs=1e-3)
    assert figure.data[1].error_y.array[0] == pytest.approx(3.92, abs=1e-3)
    without_sd = figures.over_time(tables.weekly_table(REPORT), tables.releases_table(REPORT))
    assert without_sd.data[0].error_y.visible is False
