"""Templates: holdout accuracy against time saved for the top N templates by volume."""

from __future__ import annotations

from dash import Dash, Input, Output, dcc, html

from dashboards import components as ui
from dashboards import figures, tables
from dashboards.pages.base import FILTER_INPUTS, load

PATH = "/templates"
NAME = "Templates"

TOP_N_CHOICES = (5, 10, 20, 50, 100)  # the views abkit.report.templates.TREND_TOP_N tests the trend over
DEFAULT_TOP_N = 20


def layout(**_: object) -> html.Div:
    picker = html.Label(
        [
            "Top N by volume ",
            dcc.Dropdown(
                id="templates-top-n",
                options=[{"label": str(n), "value": n} for n in TOP_N_CHOICES],
                value=DEFAULT_TOP_N,
                clearable=False,
                className="abk-inline-dropdown",
            ),
        ],
        className="abk-inline",
    )
    return html.Div(
        [
            html.Div(id="templates-notice"),
            ui.card(
                "Accuracy vs time saved",
                picker,
                ui.graph("templates-graph"),
                html.P(id="templates-trend", className="abk-help"),
            ),
            ui.card(
                "Templates (click a header to sort)",
                ui.data_table("templates-table", page_size=50),
                extra=ui.download_link("templates-csv"),
            ),
            html.Div(id="templates-ready", className="abk-ready"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output("templates-notice", "children"),
        Output("templates-graph", "figure"),
        Output("templates-trend", "children"),
        Output("templates-table", "columns"),
        Output("templates-table", "data"),
        Output("templates-csv", "href"),
        Output("templates-ready", "children"),
        *FILTER_INPUTS,
        Input("templates-top-n", "value"),
    )
    def _render(snapshot, version, start, end, top_n):
        page = load(snapshot, version, start, end, top_n=int(top_n or DEFAULT_TOP_N))
        report = page.report or {}
        frame = tables.templates_table(report, page.view.top_n)
        drawn = tables.drawn_templates(frame)
        # The report tested the trend over exactly this top N (drawn in its order), not only its own.
        trend = tables.template_trend(report, page.view.top_n or DEFAULT_TOP_N)
        subtitle = ""
        if page.view.version and (snapshot or {}).get("exact"):
            subtitle = f", {page.view.version}'s window"
        figure = figures.templates_scatter(drawn, len(frame), trend["mann_kendall"], subtitle)
        return (
            ui.notice(page.notice),
            figure,
            _trend_text(trend, len(drawn), len(frame), page.view.top_n or DEFAULT_TOP_N),
            ui.table_columns(frame),
            ui.table_records(frame),
            ui.csv_href("templates", page.view),
            str(page.view.snapshot_id),
        )


def _trend_text(trend: dict, drawn: int, top: int, asked: int) -> str:
    """The two Mann-Kendall results and what they were computed over."""
    text = " · ".join(figures.mann_kendall_text(result) for result in trend.values())
    scope = f"over the {drawn} templates drawn: those of the top {top} by volume with a holdout accuracy and a saving"
    if top < asked:
        scope += f"; the report keeps {top} templates, fewer than the {asked} asked for"
    return (
        f"{text}, {scope}. Marker area: holdout selections; bars: 95% CI of the saving (selection-level) "
        f"where a template has fewer than {figures.LOW_N} holdout selections."
    )
