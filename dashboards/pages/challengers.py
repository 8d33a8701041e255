"""Challenger tests: each version-vs-version A/B test, its verdict, interaction-level CI and Holm p."""

from __future__ import annotations

from dash import Dash, Output, html

from dashboards import components as ui
from dashboards import figures, tables
from dashboards.pages.base import FILTER_INPUTS, load

PATH = "/challengers"
NAME = "Challenger tests"


def layout(**_: object) -> html.Div:
    return html.Div(
        [
            html.Div(id="challengers-notice"),
            ui.card("Challenger minus baseline (95% CI)", ui.graph("challengers-forest")),
            ui.card(
                "Version-vs-version tests",
                ui.data_table("challengers-table", conditional=ui.verdict_styles()),
                extra=ui.download_link("challengers-csv"),
            ),
            html.P(
                "The verdict is the report's: it reads the interaction-level 95% CI and the Holm adjustment of the "
                "interaction-level p across tests (p holm). Selection level columns are the published Welch test, "
                "shown for comparison.",
                className="abk-help",
            ),
            html.Div(id="challengers-ready", className="abk-ready"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output("challengers-notice", "children"),
        Output("challengers-forest", "figure"),
        Output("challengers-table", "columns"),
        Output("challengers-table", "data"),
        Output("challengers-csv", "href"),
        Output("challengers-ready", "children"),
        *FILTER_INPUTS,
    )
    def _render(snapshot, version, start, end):
        page = load(snapshot, version, start, end)
        frame = tables.challengers_table(page.report or {}, page.view.version)
        frame = frame.assign(test=frame["challenger"].astype(str) + " vs " + frame["baseline"].astype(str))
        figure = figures.delta_forest(frame, "test", "Challenger vs baseline, delta selection time")
        frame = frame.drop(columns=["test", "verdict_reason"])
        return (
            ui.notice(page.notice),
            figure,
            ui.table_columns(frame),
            ui.table_records(frame),
            ui.csv_href("challengers", page.view),
            str(page.view.snapshot_id),
        )
