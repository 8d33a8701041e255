"""Overview: the verdict in words for each model version and comparison, then the figures behind it."""

from __future__ import annotations

import pandas as pd
from dash import Dash, Output, html

from dashboards import components as ui
from dashboards import figures, tables
from dashboards.pages.base import FILTER_INPUTS, load
from dashboards.power_table import power_table

PATH = "/"
NAME = "Overview"
# Shown in the verdict cards above the table; the CSV keeps them.
_CARD_ONLY = ["verdict_reason", "analysis"]


def layout(**_: object) -> html.Div:
    return html.Div(
        [
            html.Div(id="overview-notice"),
            html.Div(id="overview-verdicts", className="abk-verdicts"),
            html.Div(id="overview-kpis", className="abk-kpis"),
            ui.card("Time saved per model version (95% CI)", ui.graph("overview-forest")),
            ui.card(
                "Per model version and experiment",
                ui.data_table("overview-table", conditional=[*ui.verdict_styles(), *ui.flag_styles("srm_flag")]),
                html.P(
                    "delta ci95 and clustered p are interaction-level (the randomisation unit: an advocate-case "
                    "interaction) and carry the verdict; selection level columns are the published Welch test, "
                    "which treats correlated selections as independent.",
                    className="abk-help",
                ),
                extra=ui.download_link("overview-csv"),
            ),
            ui.card(
                "Power of running experiments",
                ui.data_table(
                    "overview-power",
                    conditional=[{"if": {"filter_query": "{verdict_reads} = yes"}, "fontWeight": "600"}],
                ),
                html.P(
                    "The smallest saving (s) each running test detects with 80% power after 7, 14 and 28 days of its "
                    "latest traffic under its configured weights, and the days it needs for the saving shown (empty: "
                    "more than ten years). Sequential rows are for the always-valid interval, which may be read every "
                    "day; CUPED rows use the advocates' pre-period speed. verdict reads marks the analysis the verdict "
                    "uses. abkit power prints the same for one experiment.",
                    className="abk-help",
                ),
                extra=ui.download_link("overview-power-csv"),
            ),
            html.Div(id="overview-ready", className="abk-ready"),
        ]
    )


def _verdicts(versions: pd.DataFrame, comparisons: pd.DataFrame) -> list[html.Article]:
    cards = [
        ui.verdict_card(
            f"{r.model_version} · {tables.run_label(r.experiment, r.salt)}", r.verdict, r.verdict_reason, r.analysis
        )
        for r in versions.itertuples(index=False)
    ]
    cards += [
        ui.verdict_card(
            f"{r.challenger} vs {r.baseline} · {tables.run_label(r.experiment, r.salt)}",
            r.verdict,
            r.verdict_reason,
            r.analysis,
        )
        for r in comparisons.itertuples(index=False)
    ]
    return cards


def _kpis(report: dict | None, frame: pd.DataFrame) -> list[html.Div]:
    if report is None:
        return []
    totals = report.get("totals") or {}
    saves = frame["verdict"] == tables.SAVES_TIME
    # Only a saving the verdict stands behind counts as the best one.
    saving = pd.to_numeric(frame.loc[saves, "delta_s"], errors="coerce").dropna()
    tiles = [
        ("selections", f"{totals.get('selections', 0):,}"),
        ("predictions", f"{totals.get('predictions', 0):,}"),
        ("cases", f"{totals.get('cases', 0):,}"),
        ("versions saving time", f"{int(saves.sum())} of {len(frame)}"),
        ("best significant saving, s", f"{-saving.min():.2f}" if not saving.empty else "none"),
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
        Output("overview-verdicts", "children"),
        Output("overview-kpis", "children"),
        Output("overview-forest", "figure"),
        Output("overview-table", "columns"),
        Output("overview-table", "data"),
        Output("overview-csv", "href"),
        Output("overview-power", "columns"),
        Output("overview-power", "data"),
        Output("overview-power-csv", "href"),
        Output("overview-ready", "children"),
        *FILTER_INPUTS,
    )
    def _render(snapshot, version, start, end):
        page = load(snapshot, version, start, end)
        report = page.report or {}
        frame = tables.overview_table(report, page.view.version)
        comparisons = tables.challengers_table(report, page.view.version)
        runs = [tables.run_label(e, s) for e, s in zip(frame["experiment"], frame["salt"], strict=True)]
        labelled = frame.assign(row=frame["model_version"].astype(str) + " · " + pd.Series(runs, dtype=str))
        figure = figures.delta_forest(labelled, "row", "Delta selection time, treatment vs holdout")
        shown = frame.drop(columns=_CARD_ONLY)
        power = power_table(report, page.view.version).drop(columns=["weights"])  # the CSV keeps them
        return (
            ui.notice(page.notice),
            _verdicts(frame, comparisons),
            _kpis(page.report, frame),
            figure,
            ui.table_columns(shown),
            ui.table_records(shown),
            ui.csv_href("overview", page.view),
            ui.table_columns(power),
            ui.table_records(power),
            ui.csv_href("power", page.view),
            str(page.view.snapshot_id),
        )
