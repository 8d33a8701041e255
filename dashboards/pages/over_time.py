"""Over time: weekly means with and without suggestions, releases, cumulative seconds saved."""

from __future__ import annotations

from dash import Dash, Output, html

from dashboards import components as ui
from dashboards import figures, tables
from dashboards.pages.base import FILTER_INPUTS, load

PATH = "/over-time"
NAME = "Over time"


def layout(**_: object) -> html.Div:
    return html.Div(
        [
            html.Div(id="over-time-notice"),
            ui.card("Selection time with and without suggestions", ui.graph("over-time-graph")),
            ui.card("Weekly figures", ui.data_table("weekly-table"), extra=ui.download_link("weekly-csv")),
            html.Div(id="over-time-ready", className="abk-ready"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output("over-time-notice", "children"),
        Output("over-time-graph", "figure"),
        Output("weekly-table", "columns"),
        Output("weekly-table", "data"),
        Output("weekly-csv", "href"),
        Output("over-time-ready", "children"),
        *FILTER_INPUTS,
    )
    def _render(snapshot, version, start, end):  # type: ignore[no-untyped-def]
        page = load(snapshot, version, start, end)
        report = page.report or {}
        weekly = tables.weekly_table(report, page.view.since, page.view.until)
        figure = figures.over_time(weekly, tables.releases_table(report))
        return (
            ui.notice(page.notice),
            figure,
            ui.table_columns(weekly),
            ui.table_records(weekly),
            ui.csv_href("weekly", page.view),
            str(page.view.snapshot_id),
        )
