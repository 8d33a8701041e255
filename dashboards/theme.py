"""One look for every page: colours, fonts and the plotly template the figures use."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

FONT = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"

# Arm colours are fixed across pages so "with suggestions" always reads the same.
WITH_SUGGESTIONS = "#0f766e"  # treatment arm: suggestions shown
WITHOUT_SUGGESTIONS = "#c2410c"  # holdout arm: suggestions hidden
NEUTRAL = "#64748b"
GOOD = "#15803d"
BAD = "#b91c1c"
GRID = "#e2e8f0"
# Series colours; the holdout orange is kept out so it only ever means "without suggestions".
PALETTE = ["#0f766e", "#1d4ed8", "#7c3aed", "#ca8a04", "#be185d", "#0891b2", "#4d7c0f", "#475569"]

WARN = "#b45309"
# The report's decisions (docs/report-schema.md, "verdict") and, for a chart's interval alone,
# "inconclusive" (the 95% CI includes zero) and "n/a" (no interval).
VERDICT_COLOURS = {
    "saves time": GOOD,
    "costs time": BAD,
    "no detectable difference": NEUTRAL,
    "keep collecting": "#1d4ed8",
    "do not trust: sample ratio mismatch": WARN,
    "do not ship: guardrail": BAD,
    "inconclusive": NEUTRAL,
    "n/a": "#94a3b8",
}

TEMPLATE_NAME = "abkit"

pio.templates[TEMPLATE_NAME] = go.layout.Template(
    layout=go.Layout(
        font={"family": FONT, "size": 13, "color": "#0f172a"},
        colorway=PALETTE,
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 60, "r": 24, "t": 72, "b": 48},
        xaxis={"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": "#94a3b8"},
        yaxis={"gridcolor": GRID, "zerolinecolor": "#94a3b8", "linecolor": "#94a3b8"},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.04, "xanchor": "right", "x": 1},
        hoverlabel={"font": {"family": FONT}},
        title={"x": 0, "xanchor": "left", "font": {"size": 15}},
    )
)


def base_figure(title: str) -> go.Figure:
    """An empty figure in the dashboard's template."""
    return go.Figure(layout={"template": TEMPLATE_NAME, "title": {"text": title}})


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to draw, instead of blank axes."""
    figure = base_figure(title)
    figure.update_layout(xaxis={"visible": False}, yaxis={"visible": False})
    figure.add_annotation(
        text=message, showarrow=False, font={"size": 14, "color": NEUTRAL}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    return figure
