"""Markdown and HTML renderers: formatting, escaping, missing figures, charts."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from abkit.report.build import build_report
from abkit.report.contract import Report
from abkit.report.render_html import render_html, saving_figure, savings_figure, timeline_figure
from abkit.report.render_markdown import interval, number, percent, render_json, render_markdown
from tests.report_events import event_frames, write_events


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('render') / 'events.sqlite'}"
    write_events(url, event_frames(interactions=120))
    # A stored snapshot goes through JSON: render what comes back, not the in-memory report.
    return json.loads(render_json(build_report(url, now=datetime(2026, 2, 1))))


@pytest.fixture(scope="module")
def report(document) -> Report:
    return Report.model_validate(document)


def test_number_formatting():
    assert number(None) == "—"
    assert number(12345) == "12,345"
    assert number(True) == "yes"
    assert number(13.1000) == "13.1"
    assert number(4.76e-10) == "4.76e-10"
    assert number(3236252.0) == "3.24e+06"
    assert interval([-0.6, -0.3]) == "[-0.6, -0.3]" and interval(None) == "—"
    assert percent(0.0356) == "3.6%" and percent(None) == "—"


def test_markdown_lists_versions_comparisons_and_missing_reasons(report):
    text = render_markdown(report)
    assert "| v1 |" in text and "| v2-challenger | v1 | v2 |" in text
    assert "## Missing figures" in text and "v3 (v3-pilot): " in text and "no selections in holdout" in text
    assert "Mann-Kendall (original)" in text and "Mann-Kendall (hamed_rao)" in text


def test_markdown_escapes_pipes_in_names(document):
    odd = json.loads(json.dumps(document))
    odd["templates"]["rows"][0]["template_id"] = "T|1"
    assert "T\\|1" in render_markdown(Report.model_validate(odd))


def test_html_escapes_and_embeds_plotly_once(document):
    odd = json.loads(json.dumps(document))
    odd["templates"]["rows"][0]["template_id"] = "<script>alert(1)</script>"
    page = render_html(Report.model_validate(odd))
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert "<script>alert(1)" not in page  # nor in the chart's JSON (plotly writes "<\\/script>")
    assert page.count("plotly.js (basic - minified)") == 1 and "Plotly.newPlot" in page


def test_html_charts_show_names_as_written_never_as_plotly_markup(document):
    """plotly.js draws labels as pseudo-HTML: a raw ``<a href>`` would be a link captioned "v1"."""
    odd = json.loads(json.dumps(document))
    link = '<a href="https://evil.example/">v1</a>'
    drawn = next(v for v in odd["versions"] if v["clustered"]["delta_ci95_s"] is not None)
    drawn["model_version"] = link
    template = next(r for r in odd["templates"]["rows"] if r["holdout_top5_accuracy"] is not None and r["saving_s"])
    template["template_id"] = "<b>T</b>&amp;"
    report = Report.model_validate(odd)
    escaped = f'&lt;a href="https://evil.example/"&gt;v1&lt;/a&gt; ({drawn["experiment"]})'
    assert escaped in list(saving_figure(report).data[0].x)
    assert f"&lt;b&gt;T&lt;/b&gt;&amp;amp; ({template['volume']} selections)" in list(
        savings_figure(report).data[0].text
    )
    page = render_html(report)
    assert "https://evil.example/" in page and '<a href="https://evil.example/">' not in page


def test_charts_follow_the_report(report, document):
    (bars,) = saving_figure(report).data
    # only results with an interaction-level interval: v2 and v3 have no holdout of their own
    with_interval = [v for v in document["versions"] if v["clustered"]["delta_ci95_s"] is not None]
    assert list(bars.x) == [f"{v['model_version']} ({v['experiment']})" for v in with_interval]
    assert list(bars.y) == [v["saving_s"] for v in with_interval]
    # error bars reach the interval's ends: saving = -delta, so its upper end is -low
    for v, up, down in zip(with_interval, bars.error_y.array, bars.error_y.arrayminus, strict=True):
        low, high = v["clustered"]["delta_ci95_s"]
        assert v["saving_s"] + up == pytest.approx(-low) and v["saving_s"] - down == pytest.approx(-high)
    assert list(bars.text) == [v["verdict"]["decision"] for v in with_interval]
    lines = timeline_figure(report)
    assert {trace.name for trace in lines.data} == {"treatment", "holdout"}
    assert sum(len(trace.x) for trace in lines.data) == len(document["timeline"]["rows"])
    points, line = savings_figure(report).data  # templates and the Sen-slope line
    # the line is the report's: median(saving) + slope * (rank - median(rank)), worked here from the points
    savings, slope = sorted(points.y), document["templates"]["mann_kendall"]["sen_slope"]
    middle, centre = len(savings) // 2, (len(savings) - 1) / 2
    median = savings[middle] if len(savings) % 2 else (savings[middle - 1] + savings[middle]) / 2
    assert list(line.y) == pytest.approx([median + slope * (rank - centre) for rank in range(len(savings))])
    empty = json.loads(json.dumps(document))
    empty["templates"]["rows"] = []
    empty["templates"]["mann_kendall"]["sen_slope"] = None
    assert len(savings_figure(Report.model_validate(empty)).data) == 1


def test_json_never_holds_nan(document):
    odd = json.loads(json.dumps(document))
    odd["versions"][0]["welch"]["t"] = float("nan")
    assert json.loads(render_json(Report.model_validate(odd)))["versions"][0]["welch"]["t"] is None


def test_a_document_off_the_contract_is_refused_by_name(document):
    # A whole test object cannot be null: the renderers never meet one.
    nulled = json.loads(json.dumps(document))
    nulled["versions"][0]["clustered"] = None
    with pytest.raises(ValidationError, match="versions.0.clustered"):
        Report.model_validate(nulled)
