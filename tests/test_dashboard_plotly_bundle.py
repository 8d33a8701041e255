"""The vendored partial plotly.js: the right release, on the page, and enough for every figure.

The browser side (the full bundle is never fetched, window.Plotly is this bundle and has the
trace types listed here) is checked in tests/test_dashboard_browser.py.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs_version

from abkit.report import plotly_bundle
from dashboards import app as app_module
from dashboards import create_app, figures, tables, timeline, timeline_figure

REPORT = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())
# sha256 of plotly-basic.min.js from the npm tarball plotly.js-basic-dist-min@4.1.1 (recorded in
# abkit/report/vendor/README.md when it was vendored): the file is the published one, unedited.
VENDORED_SHA256 = "99784e3abfb07b142a15e521a439e6d9addceadb3f79553fd24c72774f0649ba"
FULL_BUNDLE = "_dash-component-suites/plotly/package_data/plotly.min.js"
PARTIAL_BUNDLE = app_module.PARTIAL_PLOTLY_PATH


def test_vendored_bundle_is_the_published_file_of_the_release_plotly_py_writes_for():
    assert hashlib.sha256(plotly_bundle.VENDORED.read_bytes()).hexdigest() == VENDORED_SHA256
    assert plotly_bundle.bundle_version() == get_plotlyjs_version()
    assert plotly_bundle.unusable_reason() is None


def test_a_bundle_of_another_release_is_refused_by_name(tmp_path):
    other = tmp_path / "plotly-basic.min.js"
    other.write_text("/**\n* plotly.js (basic - minified) v3.0.1\n* Copyright\n*/\nvar Plotly;\n")
    assert plotly_bundle.bundle_version(other) == "3.0.1"
    reason = plotly_bundle.unusable_reason(other, expected="4.1.1")
    assert reason is not None and "3.0.1" in reason and "4.1.1" in reason


@pytest.mark.parametrize("content", [None, "/* plotly.js v4.1.1 (the full bundle's header) */"])
def test_a_missing_or_unrecognised_bundle_is_refused(tmp_path, content):
    path = tmp_path / "plotly-basic.min.js"
    if content is not None:
        path.write_text(content)
    assert plotly_bundle.bundle_version(path) is None
    assert str(path) in (plotly_bundle.unusable_reason(path, expected="4.1.1") or "")


def _index(app) -> str:
    return app.server.test_client().get("/").get_data(as_text=True)


def test_the_page_loads_the_partial_bundle_before_the_dash_renderer(tmp_path):
    page = _index(create_app(str(tmp_path / "missing.sqlite")))
    assert PARTIAL_BUNDLE in page
    # A plain script before the renderer's: window.Plotly exists before any dcc.Graph renders.
    assert page.index(PARTIAL_BUNDLE) < page.index("dash_renderer")
    assert FULL_BUNDLE not in page


def test_the_partial_bundle_is_served_as_javascript(tmp_path):
    response = create_app(str(tmp_path / "missing.sqlite")).server.test_client().get(PARTIAL_BUNDLE)
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.get_data() == plotly_bundle.VENDORED.read_bytes()
    response.close()


def test_full_plotly_leaves_the_partial_bundle_out(tmp_path):
    assert PARTIAL_BUNDLE not in _index(create_app(str(tmp_path / "missing.sqlite"), full_plotly=True))


def test_an_unusable_bundle_falls_back_to_the_full_one_with_a_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(app_module, "unusable_reason", lambda: "plotly-basic.min.js is plotly.js 3.0.1")
    with caplog.at_level(logging.WARNING, logger="dashboards.app"):
        page = _index(create_app(str(tmp_path / "missing.sqlite")))
    assert PARTIAL_BUNDLE not in page
    assert "plotly.js 3.0.1" in caplog.text


def _all_figures() -> dict[str, go.Figure]:
    """Every figure builder of the dashboard, fed from the report fixture."""
    overview = tables.overview_table(REPORT)
    templates = tables.templates_table(REPORT)
    return {
        "delta_forest": figures.delta_forest(overview, "model_version", "t"),
        "over_time": timeline_figure.over_time(
            timeline.timeline_table(REPORT),
            timeline.timeline_grain(REPORT),
            timeline.releases_table(REPORT),
            timeline.phases_table(REPORT),
        ),
        "templates_scatter": figures.templates_scatter(
            tables.drawn_templates(templates), len(templates), REPORT["templates"]["mann_kendall"], ""
        ),
        "events_per_day": figures.events_per_day(tables.daily_events_table(REPORT)),
        "latency_bars": figures.latency_bars(tables.latency_table(REPORT)),
    }


def test_every_figure_uses_only_trace_types_the_partial_bundle_has():
    built = _all_figures()
    builders = {
        name
        for module in (figures, timeline_figure)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__
        and not name.startswith("_")
        and inspect.signature(function).return_annotation in (go.Figure, "go.Figure")
    }
    assert builders == set(built), "a new figure builder must be added to _all_figures"
    for name, figure in built.items():
        assert figure.data, name  # drawn from the fixture, not an empty placeholder
        used = {trace.type for trace in figure.data}
        assert used <= plotly_bundle.TRACE_TYPES, f"{name} draws {used - plotly_bundle.TRACE_TYPES}"
