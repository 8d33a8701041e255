"""Figures drawn from the report fixture: the right traces, markers and fallbacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from dashboards import figures, tables, theme

REPORT = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())


def test_delta_forest_draws_the_interaction_level_interval_first_and_the_published_one_beside_it():
    frame = tables.overview_table(REPORT)
    figure = figures.delta_forest(frame, "model_version", "t")
    primary, published = figure.data
    # Interaction-level deltas combine the phases: v2 in v2-challenger is -6.4 s, -6.5 s per selection.
    assert list(primary.x) == [-5.63, -6.14, -6.4, -3.79]
    assert list(published.x) == [-5.63, -6.14, -6.5, -3.79]
    assert "interaction-level" in primary.name and "published method" in published.name
    # v1's error bars reach the clustered CI [-6.25, -5.01]: -5.63 + 0.62 and -5.63 - 0.62
    assert primary.error_x.array[0] == pytest.approx(0.62) and primary.error_x.arrayminus[0] == pytest.approx(0.62)
    # ... and the published ones Welch's [-6.14, -5.12]
    assert published.error_x.array[0] == pytest.approx(0.51) and published.error_x.arrayminus[0] == pytest.approx(0.51)
    # Colours read the interaction-level CI: v2 in v2-challenger saves time by Welch but not by it.
    assert list(primary.marker.color) == [theme.GOOD, theme.GOOD, theme.NEUTRAL, "#94a3b8"]
    assert figure.layout.scattermode == "group"


def test_delta_forest_without_deltas_says_so():
    figure = figures.delta_forest(tables.overview_table({}), "model_version", "t")
    assert figure.data == () and "No delta" in figure.layout.annotations[0].text


def test_templates_scatter_sizes_by_holdout_n_and_draws_cis_on_low_n_points():
    frame = tables.templates_table(REPORT)
    drawn = tables.drawn_templates(frame)
    trend = tables.template_trend(REPORT, len(frame))
    figure = figures.templates_scatter(drawn, len(frame), trend["mann_kendall"], "")
    trace = figure.data[0]
    assert len(trace.x) == 7  # T0008 has no holdout selections
    assert "top 8 templates" in figure.layout.title.text
    # T0007 (accuracy 0.62, drawn first) has 24 holdout selections: its CI [2.1, 6.7] around 4.4 is drawn.
    assert trace.text[0] == "T0007" and figures.LOW_N > 24
    assert trace.error_y.array[0] == pytest.approx(2.3) and trace.error_y.arrayminus[0] == pytest.approx(2.3)
    assert all(math.isnan(bar) for bar in trace.error_y.array[1:])  # the others have >= 60: no bar
    assert trace.marker.size[0] < trace.marker.size[-1]  # 24 vs 190 holdout selections
    assert "95% CI 2.10 to 6.70 s" in trace.customdata[0][2]
    assert "Mann-Kendall (original)" in figure.layout.annotations[0].text


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


def test_names_from_the_events_are_drawn_as_written_never_as_plotly_markup():
    """plotly.js draws labels as pseudo-HTML (``<a href>`` a link, ``<b>`` bold): names are escaped."""
    link = '<a href="https://evil.example/">v1</a>'
    escaped = '&lt;a href="https://evil.example/"&gt;v1&lt;/a&gt;'
    frame = tables.overview_table(REPORT).assign(model_version=link)
    assert set(figures.delta_forest(frame, "model_version", "t").data[0].y) == {escaped}
    daily = tables.daily_events_table(REPORT).assign(experiment=link)
    assert all(t.name.startswith(escaped + " / ") for t in figures.events_per_day(daily).data)
    latency = tables.latency_table(REPORT).assign(model_version=link)
    assert set(figures.latency_bars(latency).data[0].x) == {escaped}
    drawn = tables.drawn_templates(tables.templates_table(REPORT)).assign(template_id="<b>T</b>")
    assert set(figures.templates_scatter(drawn, 8, None, "").data[0].text) == {"&lt;b&gt;T&lt;/b&gt;"}
