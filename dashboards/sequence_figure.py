"""The confidence sequence figure: each result's always-valid 95% band narrowing look by look.

Pure, like :mod:`dashboards.timeline_figure`: the frame of :func:`dashboards.timeline.sequence_table`
in, a figure out. One panel per result (a version against its holdout, a challenger against its
baseline): the band, the delta, the zero line, and a star on the first look whose band excludes 0,
where a sequential test may stop.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from abkit.report.plotly_bundle import plotly_text
from dashboards import theme
from dashboards.timeline import TICK_FORMAT

TITLE = "Always-valid 95% confidence sequence of the delta (s), as of the end of each period"
BAND = "rgba(29, 78, 216, 0.18)"  # PALETTE[1], translucent
PANEL_HEIGHT = 230


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def confidence_sequences(sequence: pd.DataFrame) -> go.Figure:
    """The band, delta and zero line of every result in ``sequence``, with the first "may stop" look.

    Each result has its own time axis: a two-week challenger test fills its panel even in a report
    over a year, labelled to the hour when its looks are hourly.

    Args:
        sequence: Rows of :func:`dashboards.timeline.sequence_table` (one per result and look).
    """
    if sequence.empty:
        return theme.empty_figure(TITLE, "No confidence sequence in this report (or none for this version).")
    results = list(dict.fromkeys(sequence["result"]))
    titles = []
    for label in results:
        cuped = bool(sequence.loc[sequence["result"] == label, "cuped"].any())
        titles.append(plotly_text(label) + (", CUPED-adjusted" if cuped else ""))
    figure = make_subplots(rows=len(results), cols=1, subplot_titles=titles, vertical_spacing=0.3 / len(results))
    height = PANEL_HEIGHT * len(results) + 170
    figure.update_layout(
        template=theme.TEMPLATE_NAME,
        title={"text": TITLE, "yref": "container", "y": 1 - 8 / height, "yanchor": "top"},
        height=height,
        margin={"t": 110},
        # 45 px under the top whatever the number of panels: container coordinates, not the plot's
        legend={"yref": "container", "y": 1 - 45 / height, "yanchor": "top", "x": 0, "xanchor": "left"},
    )
    for row, label in enumerate(results, start=1):
        _panel(figure, sequence[sequence["result"] == label], row, first=row == 1)
    figure.update_yaxes(title_text="seconds", automargin=True)
    return figure


def _panel(figure: go.Figure, part: pd.DataFrame, row: int, *, first: bool) -> None:
    ends = pd.to_datetime(part["end"])
    hourly = len(ends) > 1 and ends.diff().min() < pd.Timedelta(days=1)
    figure.update_xaxes(type="date", tickformat=TICK_FORMAT["hour" if hourly else "day"], row=row, col=1)
    low, high, delta = _num(part["ci95_low_s"]), _num(part["ci95_high_s"]), _num(part["delta_s"])
    # the band: its upper edge, then its lower edge filled up to it
    figure.add_trace(
        go.Scatter(x=ends, y=high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"),
        row=row,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=ends,
            y=low,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=BAND,
            name="always-valid 95% CI",
            legendgroup="band",
            showlegend=first,
            hoverinfo="skip",
        ),
        row=row,
        col=1,
    )
    figure.add_trace(
        go.Scatter(
            x=ends,
            y=delta,
            mode="lines+markers",
            line={"color": theme.PALETTE[1], "width": 2},
            name="delta (treatment - control)",
            legendgroup="delta",
            showlegend=first,
            customdata=list(zip(low, high, _num(part["p"]), _num(part["interactions"]), strict=True)),
            hovertemplate="%{x}: %{y:+.2f} s (%{customdata[0]:+.2f} to %{customdata[1]:+.2f}), "
            "always-valid p %{customdata[2]:.3g}, %{customdata[3]:,} interactions<extra></extra>",
        ),
        row=row,
        col=1,
    )
    figure.add_hline(y=0, line={"color": theme.NEUTRAL, "dash": "dash", "width": 1}, row=row, col=1)
    stop = part[part["may_stop"].astype(bool)]
    if not stop.empty:
        figure.add_trace(
            go.Scatter(
                x=pd.to_datetime(stop["end"]),
                y=_num(stop["delta_s"]),
                mode="markers+text",
                marker={"symbol": "star", "size": 15, "color": theme.GOOD},
                text=["may stop"],
                textposition="top center",
                name="first look excluding 0: may stop",
                legendgroup="stop",
                showlegend=first,
                # per test: with several tests at once the verdict also adjusts across them (Holm)
                hovertemplate="%{x}: the band excludes 0, this test may stop<extra></extra>",
            ),
            row=row,
            col=1,
        )
