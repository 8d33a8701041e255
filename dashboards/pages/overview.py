"""Overview: one row per model version, significance at a glance."""

from __future__ import annotations

import pandas as pd
from dash import Dash, Output, html

from dashboards import components as ui
from dashboards import figures, tables
from dashboards.pages.base import FILTER_INPUTS, load

PATH = "/"
NAME = "Overview"


def layout(**_: object) -> html.Div:
    return html.Div(
        [
            html.Div(id="overview-notice"),
            html.Div(id="overview-kpis", className="abk-kpis"),
            ui.card("Time saved per model version (95% CI)", ui.graph("overview-forest")),
            ui.card(
                "Per model version",
                ui.data_table("overview-table", conditional=[*ui.verdict_styles(), *ui.flag_styles("srm_flag")]),
                extra=ui.download_link("overview-csv"),
            ),
            html.Div(id="overview-ready", className="abk-ready"),
        ]
    )


def _kpis(report: dict | None, frame: pd.DataFrame) -> list[html.Div]:
    if report is None:
        return []
    totals = report.get("totals") or {}
    saving = frame["delta_s"].dropna()
    tiles = [
        ("selections", f"{totals.get('selections', 0):,}"),
        ("predictions", f"{totals.get('predictions', 0):,}"),
        ("cases", f"{totals.get('cases', 0):,}"),
        ("versions saving time", f"{(frame['verdict'] == tables.SAVES_TIME).sum()} of {len(frame)}"),
        ("best saving, s", f"{-saving.min():.2f}" if not saving.empty else "n/a"),
        ("SRM flags", f"{int((frame['srm_flag'] == True).sum())}"),  # noqa: E712 - flags may be None
    ]
    return [
        html.Div(
            [html.Div(value, className="abk-kpi-value"), html.Div(label, className="abk-kpi-label")],
            className="abk-kpi",
        )
        for label, value in tiles
    ]


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output("overview-notice", "children"),
        Output("overview-kpis", "children"),
        Output("overview-forest", "figure"),
        Output("overview-table", "columns"),
        Output("overview-table", "data"),
        Output("overview-csv", "href"),
        Output("overview-ready", "children"),
        *FILTER_INPUTS,
    )
    def _render(snapshot, version, start, end):  # type: ignore[no-untyped-def]
        page = load(snapshot, version, start, end)
        frame = tables.overview_table(page.report or {}, page.view.version)
        figure = figures.delta_forest(frame, "model_version", "Delta selection time, treatment vs holdout")
        return (
            ui.notice(page.notice),
            _kpis(page.report, frame),
            figure,
            ui.table_columns(frame),
            ui.table_records(frame),
            ui.csv_href("overview", page.view),
            str(page.view.snapshot_id),
        )
