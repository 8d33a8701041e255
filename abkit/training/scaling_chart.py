"""The scaling chart: classification loss against LM loss, tokens and FLOPs, with fitted lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from abkit.training.scaling import LinearFit, ScalingPoint

_PANELS = (
    ("lm_loss", "held-out LM loss (nats/token)", lambda p: p.lm_loss),
    ("log10_tokens", "log10 adaptation tokens", lambda p: math.log10(p.tokens) if p.tokens > 0 else None),
    ("log10_flops", "log10 adaptation FLOPs (6·N·D)", lambda p: math.log10(p.flops) if p.flops > 0 else None),
)


def scaling_figure(points: Sequence[ScalingPoint], fits: Sequence[LinearFit]) -> go.Figure:
    """Three panels sharing the y axis (held-out classification loss), one colour per run."""
    by_name = {fit.x_name: fit for fit in fits}
    figure = make_subplots(
        rows=1,
        cols=len(_PANELS),
        shared_yaxes=True,
        subplot_titles=[
            f"{title}" + (f" — R² = {by_name[key].r2:.3f}" if key in by_name else "") for key, title, _ in _PANELS
        ],
    )
    runs = sorted({p.run for p in points})
    for column, (key, title, value) in enumerate(_PANELS, start=1):
        for run in runs:
            chosen = [(value(p), p) for p in points if p.run == run and value(p) is not None]
            figure.add_trace(
                go.Scatter(
                    x=[x for x, _ in chosen],
                    y=[p.cls_loss for _, p in chosen],
                    mode="markers",
                    name=run,
                    legendgroup=run,
                    showlegend=column == 1,
                    text=[f"step {p.step}" for _, p in chosen],
                ),
                row=1,
                col=column,
            )
        if key in by_name:
            xs = [value(p) for p in points if value(p) is not None]
            fit = by_name[key]
            line_x = [min(xs), max(xs)]
            figure.add_trace(
                go.Scatter(
                    x=line_x,
                    y=[fit.intercept + fit.slope * x for x in line_x],
                    mode="lines",
                    line={"dash": "dash", "color": "grey"},
                    name="least-squares fit",
                    showlegend=column == 1,
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text=title, row=1, col=column)
    figure.update_yaxes(title_text="held-out classification loss", row=1, col=1)
    figure.update_layout(title="Classification loss vs domain adaptation", template="plotly_white", height=450)
    return figure


def write_scaling_html(path: str | Path, points: Sequence[ScalingPoint], fits: Sequence[LinearFit]) -> Path:
    """A self-contained HTML file (plotly.js inlined: works offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scaling_figure(points, fits).write_html(path, include_plotlyjs=True, full_html=True)
    return path
