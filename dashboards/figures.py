"""Plotly figures of the dashboard, drawn from the frames of :mod:`dashboards.tables`.

Pure: frames in, figures out; no Dash, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from abkit.report.plotly_bundle import plotly_text
from dashboards import tables, theme

LATENCY_BUDGET_MS = 100.0  # the serving budget of the real system (DESIGN.md)
# Templates with fewer holdout selections than this get their 95% CI drawn: their saving is the noisiest.
LOW_N = 30


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _interval(centre: pd.Series, low: pd.Series, high: pd.Series) -> dict[str, Any]:
    """Asymmetric error bars from an interval's bounds (none, not a zero-width bar, where a bound is missing)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": _num(high) - centre,
        "arrayminus": centre - _num(low),
    }


def delta_forest(frame: pd.DataFrame, label_column: str, title: str) -> go.Figure:
    """Delta in seconds per row (negative: time saved) with its interaction-level 95% CI, coloured
    by what that CI says, and the selection-level (published, Welch) CI beside it in grey."""
    drawable = frame[_num(frame["delta_s"]).notna()]
    if drawable.empty:
        return theme.empty_figure(title, "No delta can be computed for this selection.")
    figure = theme.base_figure(title)
    delta = _num(drawable["delta_s"])
    labels = drawable[label_column].map(plotly_text)
    reading = [
        tables.ci_reading(low, high)
        for low, high in zip(_num(drawable["delta_ci95_low_s"]), _num(drawable["delta_ci95_high_s"]), strict=True)
    ]
    figure.add_trace(
        go.Scatter(
            x=delta,
            y=labels,
            orientation="h",  # with scattermode "group": the two intervals of a row side by side
            name="interaction-level 95% CI (decides)",
            mode="markers",
            marker={"size": 13, "color": [theme.VERDICT_COLOURS.get(r, theme.NEUTRAL) for r in reading]},
            error_x={
                **_interval(delta, drawable["delta_ci95_low_s"], drawable["delta_ci95_high_s"]),
                "thickness": 2.5,
                "width": 7,
            },
            customdata=np.column_stack([reading, drawable["verdict"].astype(str)]),
            hovertemplate="%{y}: %{x:.3f} s, interaction-level CI %{customdata[0]}; verdict: %{customdata[1]}"
            "<extra></extra>",
        )
    )
    published = _num(drawable["selection_level_delta_s"])
    figure.add_trace(
        go.Scatter(
            x=published,
            y=labels,
            orientation="h",  # with scattermode "group": the two intervals of a row side by side
            name="selection-level 95% CI (published method)",
            mode="markers",
            marker={"size": 8, "symbol": "circle-open", "color": theme.NEUTRAL},
            error_x={
                **_interval(published, drawable["selection_level_ci95_low_s"], drawable["selection_level_ci95_high_s"]),
                "thickness": 1,
                "width": 4,
                "color": theme.NEUTRAL,
            },
            hovertemplate="%{y}: %{x:.3f} s, selection-level (published method)<extra></extra>",
        )
    )
    figure.add_vline(x=0, line={"color": theme.NEUTRAL, "dash": "dot"})
    figure.update_layout(
        xaxis_title="delta selection time, s (negative = faster)",
        yaxis={"autorange": "reversed", "type": "category", "automargin": True},
        scattermode="group",
        height=140 + 56 * len(drawable),
    )
    return figure


def templates_scatter(
    drawn: pd.DataFrame, top_n: int, mann_kendall: Mapping[str, Any] | None, subtitle: str
) -> go.Figure:
    """Holdout top-5 accuracy against seconds saved per template (``drawn``: the top ``top_n``
    by volume that have both), marker area by holdout n, 95% CI bars on the low-n points."""
    title = f"Accuracy vs time saved, top {top_n} templates by volume{subtitle}"
    if drawn.empty:
        return theme.empty_figure(title, "No template has both a holdout accuracy and a saving.")
    holdout_n = _num(drawn["holdout_n"])
    saving = _num(drawn["saving_s"])
    low_n = holdout_n < LOW_N
    figure = theme.base_figure(title)
    figure.add_trace(
        go.Scatter(
            x=_num(drawn["holdout_top5_accuracy"]),
            y=saving,
            mode="markers+text",
            text=drawn["template_id"].map(plotly_text),
            textposition="top center",
            marker={
                "size": 8 + 26 * (holdout_n / max(holdout_n.max(), 1)) ** 0.5,
                "color": theme.WITH_SUGGESTIONS,
                "opacity": 0.75,
            },
            error_y={
                **_interval(
                    saving,
                    drawn["saving_ci95_low_s"].where(low_n),
                    drawn["saving_ci95_high_s"].where(low_n),
                ),
                "thickness": 1.5,
                "color": theme.NEUTRAL,
            },
            customdata=np.column_stack([drawn["treatment_n"], holdout_n, _ci_text(drawn)]),
            hovertemplate="%{text}: accuracy %{x:.1%}, saves %{y:.2f} s (%{customdata[2]}), "
            "n %{customdata[0]:,} with / %{customdata[1]:,} without suggestions<extra></extra>",
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


def _ci_text(drawn: pd.DataFrame) -> list[str]:
    return [
        "no CI" if pd.isna(low) or pd.isna(high) else f"95% CI {low:.2f} to {high:.2f} s"
        for low, high in zip(_num(drawn["saving_ci95_low_s"]), _num(drawn["saving_ci95_high_s"]), strict=True)
    ]


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
                name=plotly_text(f"{experiment} / {arm}"),
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
        figure.add_trace(go.Bar(x=latency["model_version"].map(plotly_text), y=_num(latency[column]), name=column))
    figure.add_hline(
        y=LATENCY_BUDGET_MS,
        line={"color": theme.BAD, "dash": "dash"},
        annotation_text="100 ms budget",
        annotation_position="top left",
    )
    figure.update_layout(barmode="group", yaxis_title="ms", height=380)
    return figure
