"""Health: sample-ratio mismatch per experiment, events per day per arm, serving latency."""

from __future__ import annotations

from dash import Dash, Output, html

from dashboards import components as ui
from dashboards import figures, tables
from dashboards.pages.base import FILTER_INPUTS, load

PATH = "/health"
NAME = "Health"


def layout(**_: object) -> html.Div:
    return html.Div(
        [
            html.Div(id="health-notice"),
            ui.card(
                "Sample-ratio mismatch per experiment phase (flag at p < 0.001)",
                ui.data_table("srm-table", conditional=ui.flag_styles("flag")),
                extra=ui.download_link("srm-csv"),
            ),
            ui.card(
                "Events per day",
                ui.graph("daily-graph"),
                ui.data_table("daily-table", page_size=10),
                extra=ui.download_link("daily-csv"),
            ),
            ui.card(
                "Serving latency",
                ui.graph("latency-graph"),
                ui.data_table("latency-table"),
                extra=ui.download_link("latency-csv"),
            ),
            html.Div(id="health-ready", className="abk-ready"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output("health-notice", "children"),
        Output("srm-table", "columns"),
        Output("srm-table", "data"),
        Output("srm-csv", "href"),
        Output("daily-graph", "figure"),
        Output("daily-table", "columns"),
        Output("daily-table", "data"),
        Output("daily-csv", "href"),
        Output("latency-graph", "figure"),
        Output("latency-table", "columns"),
        Output("latency-table", "data"),
        Output("latency-csv", "href"),
        Output("health-ready", "children"),
        *FILTER_INPUTS,
    )
    def _render(snapshot, version, start, end):
        page = load(snapshot, version, start, end)
        report, view = page.report or {}, page.view
        srm = tables.srm_table(report)
        daily = tables.daily_events_table(
            report, experiment=view.experiment, version=view.version, since=view.since, until=view.until
        )
        latency = tables.latency_table(report, view.version)
        return (
            ui.notice(page.notice),
            ui.table_columns(srm),
            ui.table_records(srm),
            ui.csv_href("srm", view),
            figures.events_per_day(daily),
            ui.table_columns(daily),
            ui.table_records(daily),
            ui.csv_href("daily_events", view),
            figures.latency_bars(latency),
            ui.table_columns(latency),
            ui.table_records(latency),
            ui.csv_href("latency", view),
            str(view.snapshot_id),
        )
