"""Over time: mean selection time per bucket with and without suggestions, releases, experiment
phases, cumulative seconds saved; each result's confidence sequence look by look; each version's
result per phase."""

from __future__ import annotations

from dash import Dash, Output, html

from dashboards import components as ui
from dashboards import timeline
from dashboards.pages.base import FILTER_INPUTS, load
from dashboards.sequence_figure import confidence_sequences
from dashboards.timeline_figure import over_time

PATH = "/over-time"
NAME = "Over time"


def layout(**_: object) -> html.Div:
    return html.Div(
        [
            html.Div(id="over-time-notice"),
            ui.card("Selection time with and without suggestions", ui.graph("over-time-graph")),
            ui.card("Per time bucket", ui.data_table("timeline-table"), extra=ui.download_link("timeline-csv")),
            ui.card(
                "When may a test stop? The always-valid 95% CI narrowing look by look",
                ui.graph("sequence-graph"),
                ui.data_table("sequence-table"),
                extra=ui.download_link("sequence-csv"),
            ),
            ui.card(
                "Experiment phases (definitions in force over time)",
                ui.data_table("phases-table"),
                extra=ui.download_link("phases-csv"),
            ),
            ui.card(
                "Each version's result per experiment phase (95% CI interaction-level)",
                ui.data_table("version-phases-table", conditional=ui.flag_styles("srm_flag")),
                extra=ui.download_link("version-phases-csv"),
            ),
            html.Div(id="over-time-ready", className="abk-ready"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output("over-time-notice", "children"),
        Output("over-time-graph", "figure"),
        Output("timeline-table", "columns"),
        Output("timeline-table", "data"),
        Output("timeline-csv", "href"),
        Output("sequence-graph", "figure"),
        Output("sequence-table", "columns"),
        Output("sequence-table", "data"),
        Output("sequence-csv", "href"),
        Output("phases-table", "columns"),
        Output("phases-table", "data"),
        Output("phases-csv", "href"),
        Output("version-phases-table", "columns"),
        Output("version-phases-table", "data"),
        Output("version-phases-csv", "href"),
        Output("over-time-ready", "children"),
        *FILTER_INPUTS,
    )
    def _render(snapshot, version, start, end):
        page = load(snapshot, version, start, end)
        report, view = page.report or {}, page.view
        buckets = timeline.timeline_table(report, view.since, view.until)
        phases = timeline.phases_table(report, view.experiment)
        figure = over_time(buckets, timeline.timeline_grain(report), timeline.releases_table(report), phases)
        results = timeline.version_phases_table(report, view.version)
        looks = timeline.sequence_table(report, view.version)
        return (
            ui.notice(page.notice),
            figure,
            ui.table_columns(buckets),
            ui.table_records(buckets),
            ui.csv_href("timeline", view),
            confidence_sequences(looks),
            ui.table_columns(looks),
            ui.table_records(looks),
            ui.csv_href("sequence", view),
            ui.table_columns(phases),
            ui.table_records(phases),
            ui.csv_href("phases", view),
            ui.table_columns(results),
            ui.table_records(results),
            ui.csv_href("version_phases", view),
            str(view.snapshot_id),
        )
