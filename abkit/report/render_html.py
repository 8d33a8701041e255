"""One self-contained HTML file of a report dict, with plotly charts that open offline.

plotly.js is embedded once (``include_plotlyjs=True`` on the first chart), so the file needs
no network; the tables are the same as the Markdown report's.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from abkit.report.render_markdown import (
    comparison_rows,
    missing_notes,
    template_rows,
    trend_line,
    verdict_rows,
    version_rows,
)
from abkit.report.render_online import ONLINE_NOTE, online_rows

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


def _decision(result: Mapping[str, Any]) -> str:
    return (result.get("verdict") or {}).get("decision", "")


def saving_figure(report: Mapping[str, Any]) -> go.Figure:
    """Seconds saved per selection for each (experiment, version), with its interaction-level 95% CI."""
    rows = [v for v in report["versions"] if (v["clustered"] or {}).get("delta_ci95_s") is not None]
    figure = go.Figure()
    figure.add_bar(
        x=[f"{v['model_version']} ({v.get('experiment', '')})" for v in rows],
        y=[-v["clustered"]["delta_s"] for v in rows],
        error_y={
            "type": "data",
            "symmetric": False,
            # saving = -delta, so its CI is [-high, -low]
            "array": [-v["clustered"]["delta_ci95_s"][0] + v["clustered"]["delta_s"] for v in rows],
            "arrayminus": [v["clustered"]["delta_ci95_s"][1] - v["clustered"]["delta_s"] for v in rows],
        },
        marker_color=["#2ca02c" if _decision(v) == "saves time" else "#999999" for v in rows],
        text=[_decision(v) for v in rows],
    )
    figure.update_layout(
        title="Time saved per selection (95% CI, interaction level)",
        xaxis_title="model version (experiment)",
        yaxis_title="seconds saved",
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


def timeline_figure(report: Mapping[str, Any]) -> go.Figure:
    """Mean selection time per time bucket (hour, day or week, from the data's span), treatment and holdout."""
    # a snapshot stored before the timeline existed (schema 1) has weekly rows only
    timeline = report.get("timeline") or {
        "grain": "week",
        "rows": [{**row, "start": row["week_start"]} for row in report["weekly"]],
    }
    grain = timeline["grain"]
    figure = go.Figure()
    for kind in ("treatment", "holdout"):
        rows = [r for r in timeline["rows"] if r["arm_kind"] == kind]
        figure.add_scatter(x=[r["start"] for r in rows], y=[r["mean_s"] for r in rows], mode="lines+markers", name=kind)
    figure.update_layout(title=f"Selection time per {grain}", xaxis_title=grain, yaxis_title="seconds")
    return figure


def _online_section(report: Mapping[str, Any]) -> list[str]:
    """Sequential, CUPED and guardrail figures (abkit.report.render_online); none in older snapshots."""
    header, rows = online_rows(report)
    if not rows:
        return []
    return [
        "<h2>Online monitoring: always-valid, CUPED and guardrail</h2>",
        _table(header, rows),
        f"<p>{html.escape(ONLINE_NOTE)}</p>",
    ]


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML document with embedded plotly.js (opens offline)."""
    figures = [saving_figure(report), savings_figure(report), timeline_figure(report)]
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
            "<h2>Verdicts</h2>",
            _table(*verdict_rows(report)),
            charts[0],
            "<h2>Model versions against their holdout</h2>",
            _table(*version_rows(report)),
            "<h2>Challenger comparisons (Holm-adjusted)</h2>",
            _table(*comparison_rows(report)),
            *_online_section(report),
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
