"""One self-contained HTML file of a report dict, with plotly charts that open offline.

plotly.js is embedded once (``include_plotlyjs=True`` on the first chart), so the file needs
no network; the tables are the same as the Markdown report's.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from abkit.report.render_markdown import comparison_rows, missing_notes, template_rows, trend_line, version_rows

_Z95 = 1.959963984540054  # normal 97.5% quantile, for the 95% error bars of a mean

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _half_width(arm: Mapping[str, Any]) -> float | None:
    if arm["sd_s"] is None or not arm["n"]:
        return None
    return _Z95 * arm["sd_s"] / math.sqrt(arm["n"])


def selection_time_figure(report: Mapping[str, Any]) -> go.Figure:
    """Mean selection time per model version, treatment beside holdout, with 95% error bars."""
    figure = go.Figure()
    for kind in ("treatment", "holdout"):
        versions = [v for v in report["versions"] if v[kind]["n"]]
        figure.add_bar(
            name=kind,
            x=[v["model_version"] for v in versions],
            y=[v[kind]["mean_s"] for v in versions],
            error_y={"type": "data", "array": [_half_width(v[kind]) or 0.0 for v in versions]},
        )
    figure.update_layout(
        title="Selection time per model version and arm (mean, 95% CI)",
        xaxis_title="model version",
        yaxis_title="seconds",
        barmode="group",
    )
    return figure


def savings_figure(report: Mapping[str, Any]) -> go.Figure:
    """Time saved per template against its holdout top-5 accuracy, with the Sen-slope trend."""
    rows = [
        r for r in report["templates"]["rows"] if r["holdout_top5_accuracy"] is not None and r["saving_s"] is not None
    ]
    rows.sort(key=lambda r: (r["holdout_top5_accuracy"], r["template_id"]))
    figure = go.Figure()
    figure.add_scatter(
        x=[r["holdout_top5_accuracy"] for r in rows],
        y=[r["saving_s"] for r in rows],
        mode="markers",
        name="template",
        text=[f"{r['template_id']} ({r['volume']} selections)" for r in rows],
    )
    trend = report["templates"]["mann_kendall"]
    if trend["sen_slope"] is not None and rows:
        # The test runs on savings ordered by accuracy, so the Sen line lives on the rank scale:
        # fitted value at rank i = median(saving) + slope * (i - median(rank)).
        savings = sorted(r["saving_s"] for r in rows)
        middle = len(savings) // 2
        median = savings[middle] if len(savings) % 2 else (savings[middle - 1] + savings[middle]) / 2
        centre = (len(rows) - 1) / 2
        figure.add_scatter(
            x=[r["holdout_top5_accuracy"] for r in rows],
            y=[median + trend["sen_slope"] * (i - centre) for i in range(len(rows))],
            mode="lines",
            name=f"Sen slope ({trend['trend']}, p = {trend['p']:.3g})",
        )
    figure.update_layout(
        title="Time saved per template vs holdout top-5 accuracy",
        xaxis_title="holdout top-5 accuracy",
        yaxis_title="saving (s)",
    )
    return figure


def weekly_figure(report: Mapping[str, Any]) -> go.Figure:
    """Mean selection time per ISO week, treatment and holdout."""
    figure = go.Figure()
    for kind in ("treatment", "holdout"):
        rows = [r for r in report["weekly"] if r["arm_kind"] == kind]
        figure.add_scatter(
            x=[r["week_start"] for r in rows], y=[r["mean_s"] for r in rows], mode="lines+markers", name=kind
        )
    figure.update_layout(title="Selection time per week", xaxis_title="week (Monday)", yaxis_title="seconds")
    return figure


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML document with embedded plotly.js (opens offline)."""
    figures = [selection_time_figure(report), savings_figure(report), weekly_figure(report)]
    charts = [
        figure.to_html(full_html=False, include_plotlyjs=(i == 0), default_height="420px")
        for i, figure in enumerate(figures)
    ]
    templates = report["templates"]
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in missing_notes(report))
    title = f"abkit report — {report['experiment'] or 'all experiments'}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p>Generated {html.escape(report['generated_at'])}. Window: "
            f"{html.escape(str(report['window']['since'] or 'start'))} to "
            f"{html.escape(str(report['window']['until'] or 'now'))}. "
            f"{report['totals']['selections']:,} selections, {report['totals']['predictions']:,} predictions, "
            f"{report['totals']['cases']:,} cases.</p>",
            charts[0],
            "<h2>Model versions against their holdout</h2>",
            _table(*version_rows(report)),
            "<h2>Challenger comparisons (Holm-adjusted)</h2>",
            _table(*comparison_rows(report)),
            f"<h2>Templates: top {templates['top_n']} by volume</h2>",
            f"<p>{html.escape(trend_line(templates['mann_kendall']))}<br>"
            f"{html.escape(trend_line(templates['mann_kendall_hamed_rao']))}</p>",
            charts[1],
            _table(*template_rows(report)),
            charts[2],
            f"<h2>Missing figures</h2><ul>{notes}</ul>" if notes else "",
            "</body></html>",
        ]
    )
