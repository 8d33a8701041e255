"""One self-contained HTML file of the typed report, with plotly charts that open offline.

The page comes from a Jinja2 template (``html_templates/report.html.j2``, autoescaped: names from
the data cannot inject markup); the partial plotly.js bundle (``abkit.report.plotly_bundle``) is
embedded once, so the file needs no network. The tables are the Markdown report's; every
figure and interval shown is the report's own, none is computed here.
"""

from __future__ import annotations

from functools import cache

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from abkit.report.contract import Report
from abkit.report.contract.results import VersionResult
from abkit.report.plotly_bundle import plotly_js, plotly_text
from abkit.report.render_markdown import (
    comparison_rows,
    missing_notes,
    template_rows,
    trend_line,
    verdict_rows,
    version_rows,
)
from abkit.report.render_online import ONLINE_NOTE, online_rows


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("abkit.report", "html_templates"), autoescape=True, undefined=StrictUndefined
    )
    return environment.get_template("report.html.j2")


def _with_interval(version: VersionResult) -> bool:
    return version.saving_s is not None and version.clustered.delta_ci95_s is not None


def saving_figure(report: Report) -> go.Figure:
    """Seconds saved per selection for each (experiment, version), with its interaction-level 95% CI."""
    rows = [v for v in report.versions if _with_interval(v)]
    savings = [v.saving_s or 0.0 for v in rows]
    # saving = -delta, so the saving's interval is [-high, -low]; plotly takes the bars' reach from the value
    ends = [v.clustered.delta_ci95_s or (0.0, 0.0) for v in rows]
    figure = go.Figure()
    figure.add_bar(
        x=[plotly_text(f"{v.model_version} ({v.experiment})") for v in rows],
        y=savings,
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [-low - saving for (low, _), saving in zip(ends, savings, strict=True)],
            "arrayminus": [saving + high for (_, high), saving in zip(ends, savings, strict=True)],
        },
        marker_color=["#2ca02c" if v.verdict.decision == "saves time" else "#999999" for v in rows],
        text=[v.verdict.decision for v in rows],
    )
    figure.update_layout(
        title="Time saved per selection (95% CI, interaction level)",
        xaxis_title="model version (experiment)",
        yaxis_title="seconds saved",
    )
    return figure


def savings_figure(report: Report) -> go.Figure:
    """Time saved per template against its holdout top-5 accuracy, with the Sen-slope trend."""
    rows = [r for r in report.templates.rows if r.holdout_top5_accuracy is not None and r.saving_s is not None]
    rows.sort(key=lambda r: (r.holdout_top5_accuracy or 0.0, r.template_id))
    figure = go.Figure()
    figure.add_scatter(
        x=[r.holdout_top5_accuracy for r in rows],
        y=[r.saving_s for r in rows],
        mode="markers",
        name="template",
        text=[plotly_text(f"{r.template_id} ({r.volume} selections)") for r in rows],
    )
    trend = report.templates.mann_kendall
    if trend.sen_slope is not None and trend.intercept is not None and rows:
        # The test runs on savings ordered by accuracy: the Sen line lives on the rank scale,
        # fitted value at rank i = intercept + slope * i (both from the report).
        figure.add_scatter(
            x=[r.holdout_top5_accuracy for r in rows],
            y=[trend.intercept + trend.sen_slope * rank for rank in range(len(rows))],
            mode="lines",
            name=f"Sen slope ({trend.trend}, p = {trend.p:.3g})" if trend.p is not None else "Sen slope",
        )
    figure.update_layout(
        title="Time saved per template vs holdout top-5 accuracy",
        xaxis_title="holdout top-5 accuracy",
        yaxis_title="saving (s)",
    )
    return figure


def timeline_figure(report: Report) -> go.Figure:
    """Mean selection time per time bucket (hour, day or week, from the data's span), treatment and holdout."""
    timeline = report.timeline
    figure = go.Figure()
    for kind in ("treatment", "holdout"):
        rows = [r for r in timeline.rows if r.arm_kind == kind]
        figure.add_scatter(x=[r.start for r in rows], y=[r.mean_s for r in rows], mode="lines+markers", name=kind)
    figure.update_layout(
        title=f"Selection time per {timeline.grain}", xaxis_title=timeline.grain, yaxis_title="seconds"
    )
    return figure


def _chart(figure: go.Figure) -> Markup:
    # plotly writes the figure's div and the script that draws it (its JSON escapes "</"); plotly.js is in the head
    return Markup(figure.to_html(full_html=False, include_plotlyjs=False, default_height="420px"))


def render_html(report: Report) -> str:
    """The report as one HTML document with the partial plotly.js embedded (opens offline)."""
    templates = report.templates
    return _template().render(
        title=f"abkit report — {report.experiment or 'all experiments'}",
        report=report,
        plotly_js=Markup(plotly_js()),
        charts={
            "saving": _chart(saving_figure(report)),
            "savings": _chart(savings_figure(report)),
            "timeline": _chart(timeline_figure(report)),
        },
        verdicts=verdict_rows(report),
        versions=version_rows(report),
        comparisons=comparison_rows(report),
        online=online_rows(report),
        online_note=ONLINE_NOTE,
        trend_lines=(trend_line(templates.mann_kendall), trend_line(templates.mann_kendall_hamed_rao)),
        templates=template_rows(report),
        notes=missing_notes(report),
    )
