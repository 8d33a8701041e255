"""The Over time figure: mean selection time per time bucket, cumulative saving, experiment phases.

Pure, like :mod:`dashboards.figures`: frames of :mod:`dashboards.timeline` in, a figure out.
The x axis follows the report's grain: its range is the buckets plus half a bucket each side
and its ticks fall on whole buckets, labelled to the grain, so one bucket or a few hours of
data read as well as a year.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from abkit.report.plotly_bundle import plotly_text
from dashboards import theme
from dashboards.timeline import GRAIN_MS, TICK_FORMAT

MAX_TICKS = 8  # at most about this many labelled ticks across the axis


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def over_time(timeline: pd.DataFrame, grain: str | None, releases: pd.DataFrame, phases: pd.DataFrame) -> go.Figure:
    """Mean selection time with and without suggestions per bucket, cumulative seconds saved,
    a dashed marker per model release and, when the report has phases, a band per experiment
    phase (its arm weights) with a dotted marker where an experiment's weights changed."""
    title = f"Mean selection time per {grain or 'period'}"
    if timeline.empty:
        return theme.empty_figure(title, "No timeline in this report (or none in this window).")
    starts = pd.to_datetime(timeline["start"])
    rows = 3 if not phases.empty else 2
    figure = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.55, 0.27, 0.18][:rows] if rows == 3 else [0.65, 0.35],
        vertical_spacing=0.07,
        subplot_titles=("", "Cumulative seconds saved by suggestions", "Experiment phases (arm weights)")[:rows],
    )
    figure.update_layout(template=theme.TEMPLATE_NAME, title={"text": title}, height=720 if rows == 3 else 620)
    _means(figure, timeline, starts)
    figure.add_trace(
        go.Scatter(
            x=starts,
            y=timeline["cumulative_seconds_saved"],
            name="cumulative seconds saved",
            # Markers too: a line through one bucket draws nothing.
            mode="lines+markers",
            fill="tozeroy",
            line={"color": theme.GOOD},
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    low, high = _x_range(starts, grain)
    if not phases.empty:
        _phase_bands(figure, phases, high, row=3)
    _markers(figure, releases, phases, low, high)
    # Every row is a date axis: the phase bars' lengths are milliseconds, their bases dates.
    figure.update_xaxes(type="date", range=[low, high], **_ticks(starts, grain))
    figure.update_yaxes(automargin=True)
    figure.update_yaxes(title_text="seconds per selection", row=1, col=1)
    figure.update_yaxes(title_text="seconds", row=2, col=1)
    return figure


def _means(figure: go.Figure, timeline: pd.DataFrame, starts: pd.Series) -> None:
    for suffix, name, colour in (
        ("with", "with suggestions", theme.WITH_SUGGESTIONS),
        ("without", "without suggestions (holdout)", theme.WITHOUT_SUGGESTIONS),
    ):
        # the 95% interval of each bucket's mean, as the report gives it (none in older snapshots)
        mean = _num(timeline[f"mean_{suffix}_s"])
        above = _num(timeline[f"mean_ci95_high_{suffix}_s"]) - mean
        below = mean - _num(timeline[f"mean_ci95_low_{suffix}_s"])
        figure.add_trace(
            go.Scatter(
                x=starts,
                y=mean,
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 2.5},
                customdata=_num(timeline[f"n_{suffix}"]),
                hovertemplate="%{x}: %{y:.2f} s, n %{customdata:,}<extra>" + name + "</extra>",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": above,
                    "arrayminus": below,
                    "visible": bool(above.notna().any()),
                    "thickness": 1,
                },
            ),
            row=1,
            col=1,
        )


def _x_range(starts: pd.Series, grain: str | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    # Half a bucket each side, so a single bucket is a point in the middle of a bucket-wide axis.
    half = pd.Timedelta(milliseconds=GRAIN_MS.get(grain or "", GRAIN_MS["day"]) / 2)
    return starts.min() - half, starts.max() + half


def _ticks(starts: pd.Series, grain: str | None) -> dict[str, object]:
    """Ticks on whole buckets (every k-th, at most about MAX_TICKS), labelled to the grain."""
    if grain not in GRAIN_MS:
        return {}
    buckets = (starts.max() - starts.min()) / pd.Timedelta(milliseconds=GRAIN_MS[grain]) + 1
    step = max(1, math.ceil(buckets / MAX_TICKS))
    return {
        "tickmode": "linear",
        "tick0": starts.min(),
        "dtick": GRAIN_MS[grain] * step,
        "tickformat": TICK_FORMAT[grain],
        "hoverformat": TICK_FORMAT[grain],
    }


def _phase_bands(figure: go.Figure, phases: pd.DataFrame, axis_end: pd.Timestamp, *, row: int) -> None:
    """One horizontal bar per phase on its experiment's line, from its start to its end.

    A phase still in force ends at its experiment's last selection (a finished challenger test stops
    there, not at the end of the axis), or at the axis's end without one.
    """
    starts = pd.to_datetime(phases["started_at"])
    last = pd.to_datetime(phases["last_selection_at"]) if "last_selection_at" in phases else pd.NaT
    ends = pd.to_datetime(phases["ended_at"]).fillna(last).fillna(max(axis_end, starts.max()))
    ends = ends.where(ends >= starts, starts)  # a phase recorded after its experiment's last selection
    colours = [theme.PALETTE[(int(p) - 1) % len(theme.PALETTE)] for p in _num(phases["phase"]).fillna(1)]
    figure.add_trace(
        go.Bar(
            base=starts,
            x=(ends - starts).dt.total_seconds() * 1000,  # a bar's length on a date axis is in ms
            y=phases["experiment"].map(plotly_text),
            orientation="h",
            marker={"color": colours, "opacity": 0.35},
            text=[plotly_text(f"phase {p}: {arms}") for p, arms in zip(phases["phase"], phases["arms"], strict=True)],
            textposition="inside",
            insidetextanchor="start",
            textfont={"color": "#0f172a"},
            hovertemplate="%{y} %{text}<extra></extra>",
            showlegend=False,
        ),
        row=row,
        col=1,
    )
    figure.update_yaxes(type="category", autorange="reversed", row=row, col=1)


def _vline(figure: go.Figure, moment: pd.Timestamp, dash: str, label: str | None) -> None:
    # add_vline's annotation cannot take dates on a subplot; draw shape + label.
    figure.add_shape(
        type="line",
        x0=moment,
        x1=moment,
        y0=0,
        y1=1,
        xref="x",
        yref="paper",
        line={"color": theme.NEUTRAL, "dash": dash, "width": 1},
    )
    if label:
        figure.add_annotation(
            x=moment,
            y=1.0,
            xref="x",
            yref="paper",
            text=label,
            showarrow=False,
            yanchor="bottom",
            font={"color": theme.NEUTRAL},
        )


def _markers(
    figure: go.Figure, releases: pd.DataFrame, phases: pd.DataFrame, low: pd.Timestamp, high: pd.Timestamp
) -> None:
    """Dashed, labelled: a model release. Dotted: an experiment's weights changed (a later phase began)."""
    for model_version, first_seen in releases.itertuples(index=False):
        moment = pd.Timestamp(first_seen)
        if low <= moment <= high:
            _vline(figure, moment, "dash", plotly_text(model_version))
    for started_at, phase in zip(phases.get("started_at", []), phases.get("phase", []), strict=True):
        moment = pd.Timestamp(started_at)
        if int(phase) > 1 and low <= moment <= high:
            _vline(figure, moment, "dot", None)
