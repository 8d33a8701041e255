"""The scaling chart: classification loss against LM loss, tokens and FLOPs, with fitted lines.

One colour per run, set explicitly on every trace of that run in every panel, so the legend
(drawn once) matches each panel. Step 0 (the starting model, not in the fits) is drawn in the
LM-loss panel as an open marker; it has no logarithm of tokens or FLOPs.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from abkit.training.scaling import POOLED, REGRESSORS, ScalingAnalysis, ScalingPoint

_TITLES = {
    "lm_loss": "held-out LM loss (nats/token)",
    "log10_tokens": "log10 adaptation tokens",
    "log10_flops": "log10 adaptation FLOPs (6·N·D)",
}
POOLED_COLOUR = "#555555"


def run_colours(runs: list[str]) -> dict[str, str]:
    """A fixed colour per run, in order (plotly's qualitative palette, repeated when exhausted)."""
    palette = qualitative.Plotly
    return {run: palette[i % len(palette)] for i, run in enumerate(runs)}


def _panel_title(analysis: ScalingAnalysis, x_name: str) -> str:
    r2 = [f"{g} {f.r2:.2f}" for g in [*analysis.runs, POOLED] if (f := analysis.fit(x_name, g)) is not None]
    return _TITLES[x_name] + ("<br>R²: " + ", ".join(r2) if r2 else "<br>no fit")


def _spread(points: list[ScalingPoint]) -> dict[str, object] | None:
    """Error bars of ± one standard deviation across a point's classifiers (seeds), when it has several."""
    if all(p.cls_loss_sd is None for p in points):
        return None
    return {"type": "data", "array": [p.cls_loss_sd or 0.0 for p in points], "visible": True, "thickness": 1}


def _adapted_lm_range(analysis: ScalingAnalysis) -> list[float] | None:
    """The LM-loss axis over the adapted checkpoints (padded), or None when there are none.

    Step 0's LM loss (about ln(vocabulary) for a random init) would otherwise squeeze the
    adapted points, the ones the lines are fitted to, into a sliver of the panel.
    """
    values = [p.lm_loss for p in analysis.points if p.adapted]
    if not values:
        return None
    pad = 0.1 * (max(values) - min(values)) or 0.05
    return [min(values) - pad, max(values) + pad]


def scaling_figure(analysis: ScalingAnalysis) -> go.Figure:
    """Three panels sharing the y axis (held-out classification loss), one colour per run."""
    colours = run_colours(analysis.runs)
    lm_range = _adapted_lm_range(analysis)
    figure = make_subplots(
        rows=1, cols=len(REGRESSORS), shared_yaxes=True, subplot_titles=[_panel_title(analysis, k) for k in REGRESSORS]
    )
    for column, (x_name, value) in enumerate(REGRESSORS.items(), start=1):
        first = column == 1
        for run in analysis.runs:
            colour = colours[run]
            adapted = [p for p in analysis.points if p.run == run and p.adapted]
            figure.add_trace(
                go.Scatter(
                    x=[value(p) for p in adapted],
                    y=[p.cls_loss for p in adapted],
                    mode="markers",
                    marker={"color": colour, "size": 9},
                    error_y=_spread(adapted),
                    name=run,
                    legendgroup=run,
                    showlegend=first,
                    text=[f"step {p.step}" for p in adapted],
                ),
                row=1,
                col=column,
            )
            starts = [p for p in analysis.points if p.run == run and not p.adapted]
            if x_name == "lm_loss" and starts:
                where = "in fit" if analysis.include_start else "not in fit"
                if not analysis.include_start and lm_range is not None:
                    where += "; LM loss " + ", ".join(f"{p.lm_loss:.2f}" for p in starts) + ", off the axis"
                figure.add_trace(
                    go.Scatter(
                        x=[p.lm_loss for p in starts],
                        y=[p.cls_loss for p in starts],
                        mode="markers",
                        marker={"color": colour, "size": 11, "symbol": "circle-open"},
                        name=f"{run}: step 0 (not adapted, {where})",
                        legendgroup=run,
                        showlegend=first,
                        text=["step 0"] * len(starts),
                    ),
                    row=1,
                    col=column,
                )
        for group in [*analysis.runs, POOLED]:
            fit = analysis.fit(x_name, group)
            if fit is None:
                continue
            members = [p for p in analysis.points if group in (POOLED, p.run)]
            xs = [value(p) for p in members if p.adapted] or [0.0]
            if analysis.include_start and x_name == "lm_loss":
                xs += [p.lm_loss for p in members if not p.adapted]
            line_x = [min(xs), max(xs)]
            figure.add_trace(
                go.Scatter(
                    x=line_x,
                    y=[fit.intercept + fit.slope * x for x in line_x],
                    mode="lines",
                    line={"dash": "dash", "color": colours.get(group, POOLED_COLOUR)},
                    name=f"{group}: least-squares fit",
                    legendgroup=group,
                    showlegend=first,
                    hovertext=fit.verdict,
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text=_TITLES[x_name], row=1, col=column)
    if lm_range is not None and not analysis.include_start:
        figure.update_xaxes(range=lm_range, row=1, col=1)
    figure.update_yaxes(title_text="held-out classification loss", row=1, col=1)
    figure.update_layout(
        title="Classification loss vs domain adaptation",
        template="plotly_white",
        height=620,
        margin={"t": 130},
        legend={"orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"},  # below: the panels keep the width
    )
    return figure


def write_scaling_html(path: str | Path, analysis: ScalingAnalysis) -> Path:
    """A self-contained HTML file (plotly.js inlined: works offline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scaling_figure(analysis).write_html(path, include_plotlyjs=True, full_html=True)
    return path
