"""Plotly figures of the dashboard, drawn from the frames of :mod:`dashboards.tables`.

Pure: frames in, figures out; no Dash, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards import theme

LATENCY_BUDGET_MS = 100.0  # the serving budget of the real system (DESIGN.md)
Z95 = 1.959963984540054  # two-sided 95% normal quantile


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def delta_forest(frame: pd.DataFrame, label_column: str, title: str) -> go.Figure:
    """Delta in seconds with its 95% CI per row (negative: time saved), coloured by verdict."""
    drawable = frame[_num(frame["delta_s"]).notna()]
    if drawable.empty:
        return theme.empty_figure(title, "No delta can be computed for this selection.")
    figure = theme.base_figure(title)
    delta = _num(drawable["delta_s"])
    figure.add_trace(
        go.Scatter(
            x=delta,
            y=drawable[label_column].astype(str),
            mode="markers",
            marker={"size": 12, "color": [theme.VERDICT_COLOURS.get(v, theme.NEUTRAL) for v in drawable["verdict"]]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (_num(drawable["delta_ci95_high_s"]) - delta).fillna(0),
                "arrayminus": (delta - _num(drawable["delta_ci95_low_s"])).fillna(0),
                "thickness": 2,
                "width": 6,
            },
            customdata=drawable[["verdict"]],
            hovertemplate="%{y}: %{x:.3f} s (%{customdata[0]})<extra></extra>",
            showlegend=False,
        )
    )
    figure.add_vline(x=0, line={"color": theme.NEUTRAL, "dash": "dot"})
    figure.update_layout(
        xaxis_title="delta selection time, s (negative = faster)",
        yaxis={"autorange": "reversed", "type": "category"},
        height=120 + 48 * len(drawable),
    )
    return figure


def over_time(weekly: pd.DataFrame, releases: pd.DataFrame) -> go.Figure:
    """Weekly mean selection time with and without suggestions, release markers, cumulative saving."""
    title = "Mean selection time per week"
    if weekly.empty:
        return theme.empty_figure(title, "No weekly data in this report.")
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.65, 0.35],
        vertical_spacing=0.08,
        subplot_titles=("", "Cumulative seconds saved by suggestions"),
    )
    figure.update_layout(template=theme.TEMPLATE_NAME, title={"text": title}, height=620)
    for suffix, name, colour in (
        ("with", "with suggestions", theme.WITH_SUGGESTIONS),
        ("without", "without suggestions (holdout)", theme.WITHOUT_SUGGESTIONS),
    ):
        # 95% CI of a weekly mean: 1.96 * sd / sqrt(n), when the report gives the sd.
        half_width = Z95 * _num(weekly[f"sd_{suffix}_s"]) / np.sqrt(_num(weekly[f"n_{suffix}"]))
        figure.add_trace(
            go.Scatter(
                x=weekly["week_start"],
                y=_num(weekly[f"mean_{suffix}_s"]),
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 2.5},
                error_y={
                    "type": "data",
                    "array": half_width,
                    "visible": bool(half_width.notna().any()),
                    "thickness": 1,
                },
            ),
            row=1,
            col=1,
        )
    figure.add_trace(
        go.Scatter(
            x=weekly["week_start"],
            y=weekly["cumulative_seconds_saved"],
            name="cumulative seconds saved",
            mode="lines",
            fill="tozeroy",
            line={"color": theme.GOOD},
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    first, last = str(weekly["week_start"].iloc[0]), str(weekly["week_start"].iloc[-1])
    for model_version, first_seen in releases.itertuples(index=False):
        day = str(first_seen)[:10]
        if first <= day <= last or len(weekly) == 1:
            # add_vline's annotation cannot take date strings on a subplot; draw shape + label.
            figure.add_shape(
                type="line",
                x0=day,
                x1=day,
                y0=0,
                y1=1,
                xref="x",
                yref="paper",
                line={"color": theme.NEUTRAL, "dash": "dash", "width": 1},
            )
            figure.add_annotation(
                x=day,
                y=1.0,
                xref="x",
                yref="paper",
                text=f"{model_version}",
                showarrow=False,
                yanchor="bottom",
                font={"color": theme.NEUTRAL},
            )
    figure.update_yaxes(title_text="seconds per selection", row=1, col=1)
    figure.update_yaxes(title_text="seconds", row=2, col=1)
    return figure


def templates_scatter(frame: pd.DataFrame, mann_kendall: Mapping[str, Any] | None, subtitle: str) -> go.Figure:
    """Holdout top-5 accuracy against seconds saved per template, marker area by volume."""
    title = f"Accuracy vs time saved, top {len(frame)} templates by volume{subtitle}"
    drawable = frame[_num(frame["holdout_top5_accuracy"]).notna() & _num(frame["saving_s"]).notna()]
    if drawable.empty:
        return theme.empty_figure(title, "No template has both a holdout accuracy and a saving.")
    volume = _num(drawable["volume"])
    figure = theme.base_figure(title)
    figure.add_trace(
        go.Scatter(
            x=_num(drawable["holdout_top5_accuracy"]),
            y=_num(drawable["saving_s"]),
            mode="markers+text",
            text=drawable["template_id"],
            textposition="top center",
            marker={"size": 8 + 30 * (volume / volume.max()) ** 0.5, "color": theme.WITH_SUGGESTIONS, "opacity": 0.75},
            customdata=drawable[["volume"]],
            hovertemplate="%{text}: accuracy %{x:.1%}, saves %{y:.2f} s, volume %{customdata[0]:,}<extra></extra>",
            showlegend=False,
        )
    )
    figure.update_layout(
        xaxis_title="holdout top-5 accuracy",
        yaxis_title="seconds saved per selection",
        xaxis_tickformat=".0%",
        height=480,
    )
    if mann_kendall:
        figure.add_annotation(
            text=mann_kendall_text(mann_kendall),
            xref="paper",
            yref="paper",
            x=0.01,
            y=0.99,
            showarrow=False,
            align="left",
            bgcolor="rgba(255,255,255,0.8)",
        )
    return figure


def mann_kendall_text(result: Mapping[str, Any]) -> str:
    """One line summarising a Mann-Kendall result block of the report."""
    if result.get("missing"):
        return f"Mann-Kendall: {result['missing']}"
    parts = [f"Mann-Kendall ({result.get('method', 'original')}): {result.get('trend')}"]
    for key, label, fmt in (
        ("tau", "tau", ".3f"),
        ("z", "z", ".2f"),
        ("p", "p", ".3g"),
        ("sen_slope", "Sen slope", ".3g"),
    ):
        value = result.get(key)
        if value is not None:
            parts.append(f"{label} {value:{fmt}}")
    return ", ".join(parts)


def events_per_day(daily: pd.DataFrame) -> go.Figure:
    """Selections per day per experiment and arm (log scale: the holdout is ~2% of traffic)."""
    title = "Selections per day per arm"
    if daily.empty:
        return theme.empty_figure(title, "No daily event counts in this report.")
    figure = theme.base_figure(title)
    for (experiment, arm), group in daily.groupby(["experiment", "arm"], sort=True):
        # Holdout arms keep the "without suggestions" colour, dotted; the legend names the experiment.
        line = {"color": theme.WITHOUT_SUGGESTIONS, "dash": "dot"} if arm == "holdout" else {}
        figure.add_trace(
            go.Scatter(
                x=group["day"],
                y=group["selections"],
                mode="lines+markers",
                name=f"{experiment} / {arm}",
                line=line,
            )
        )
    figure.update_layout(yaxis_type="log", yaxis_title="selections", height=380)
    return figure


def latency_bars(latency: pd.DataFrame) -> go.Figure:
    """Serving latency percentiles per model version, with the 100 ms budget."""
    title = "Serving latency per model version (ms)"
    if latency.empty:
        return theme.empty_figure(title, "No prediction latencies in this report.")
    figure = theme.base_figure(title)
    for column in ("p50", "p90", "p99", "max"):
        figure.add_trace(go.Bar(x=latency["model_version"], y=_num(latency[column]), name=column))
    figure.add_hline(
        y=LATENCY_BUDGET_MS,
        line={"color": theme.BAD, "dash": "dash"},
        annotation_text="100 ms budget",
        annotation_position="top left",
    )
    figure.update_layout(barmode="group", yaxis_title="ms", height=380)
    return figure
