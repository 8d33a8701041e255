"""Dash building blocks shared by the pages: cards, tables with a CSV link, message pages."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from dash import dash_table, dcc, html
from dash.development.base_component import Component

from dashboards import theme
from dashboards.view import View

# Display formats by column name; the CSV keeps full precision.
_PERCENT = {"delta_pct", "delta_ci95_low_pct", "delta_ci95_high_pct"}
_SHARE = {"top1", "top3", "top5", "holdout_top5_accuracy", "case_time_saved_share"}
_P_VALUE = {"selection_level_p", "clustered_p", "p_holm", "srm_p", "p"}
_DAYS = {"days_to_detect"}
_TIMESTAMPS = {"first_seen", "last_seen", "start", "end", "started_at", "ended_at", "last_selection_at"}
_COUNT = {
    "n_treatment",
    "n_holdout",
    "n_baseline",
    "n_challenger",
    "volume",
    "holdout_n",
    "treatment_n",
    "treatment_interactions",
    "holdout_interactions",
    "phase",
    "n",
    "n_with",
    "n_without",
    "selections",
    "predictions",
    "interactions_per_day",
    "interactions",
}


def _format(column: str) -> dict[str, Any]:
    if column in _SHARE:
        return {"specifier": ".1%"}
    if column in _P_VALUE:
        return {"specifier": ".3g"}
    if column in _COUNT:
        return {"specifier": ",.0f"}
    if column in _PERCENT:
        return {"specifier": ".2f"}
    if column in _DAYS:
        return {"specifier": ",.1f"}
    return {"specifier": ",.3f"}


def table_columns(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataTable column specs: numbers formatted by meaning, text as is."""
    columns = []
    for name in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name]) and not pd.api.types.is_bool_dtype(frame[name])
        spec: dict[str, Any] = {"name": name.replace("_", " "), "id": name}
        if numeric:
            spec.update(type="numeric", format=_format(name))
        columns.append(spec)
    return columns


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows for a DataTable: NaN becomes None (JSON null, an empty cell); flags become text; times to the minute."""
    records = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value) or value is pd.NA or value is pd.NaT:
                value = None
            elif isinstance(value, bool | np.bool_):
                value = "yes" if bool(value) else "no"
            elif key in _TIMESTAMPS and isinstance(value, str):
                value = value.replace("T", " ")[:16]  # to the minute on screen; the CSV keeps all digits
            clean[key] = value
        records.append(clean)
    return records


def data_table(table_id: str, *, page_size: int = 25, conditional: Sequence[Mapping[str, Any]] = ()) -> Component:
    """A sortable table, filled by a page callback."""
    return dash_table.DataTable(  # type: ignore[attr-defined]  # generated at import time
        id=table_id,
        columns=[],
        data=[],
        sort_action="native",
        page_size=page_size,
        style_table={"overflowX": "auto"},
        style_header={"fontWeight": "600", "backgroundColor": "#f1f5f9", "whiteSpace": "normal", "height": "auto"},
        style_cell={
            "fontFamily": theme.FONT,
            "fontSize": 13,
            "padding": "6px 10px",
            "textAlign": "right",
            "minWidth": 70,
            "maxWidth": 320,
            "whiteSpace": "normal",
            "height": "auto",
        },
        style_cell_conditional=[
            {"if": {"column_type": "text"}, "textAlign": "left"},
            # The report's reasons for missing figures can be long: a wide column, not tall rows.
            {"if": {"column_id": "notes"}, "minWidth": 360, "maxWidth": 560},
        ],
        style_data_conditional=list(conditional),
    )


def download_link(link_id: str, label: str = "Download CSV") -> html.A:
    """A link to a CSV route; its ``href`` is set by the page callback with the current view."""
    return html.A(label, id=link_id, href="", className="abk-download", download="")


def csv_href(table: str, view: View) -> str:
    """The download URL of ``table`` for ``view`` (served by :mod:`dashboards.downloads`)."""
    return f"/download/{table}.csv?{view.query()}"


def card(title: str, *children: Any, extra: Any = None) -> html.Section:
    """A titled panel; ``extra`` sits on the right of the title (e.g. a download link)."""
    head = html.Div([html.H3(title), extra] if extra is not None else [html.H3(title)], className="abk-card-head")
    return html.Section([head, *children], className="abk-card")


def graph(graph_id: str) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config={"displaylogo": False})


def message_page(title: str, message: str, *, kind: str, action: Any = None) -> html.Div:
    """A full-page message (unreachable, empty, wrong schema): no stack trace, just what to do."""
    return html.Div(
        html.Div(
            [html.H1(title), html.P(message, className="abk-message-text"), action],
            className=f"abk-message abk-message-{kind}",
            id="message-page",
        ),
        className="abk-message-wrap",
    )


def verdict_styles(column: str = "verdict") -> list[dict[str, Any]]:
    """Colour the verdict cells, so significance reads at a glance."""
    return [
        {
            "if": {"filter_query": f'{{{column}}} = "{verdict}"', "column_id": column},
            "color": "white",
            "backgroundColor": colour,
            "fontWeight": "600",
        }
        for verdict, colour in theme.VERDICT_COLOURS.items()
    ]


def verdict_card(title: str, decision: str, reason: str | None, analysis: str | None) -> html.Article:
    """One decision in words: what to do (coloured), the report's sentence with the numbers, and
    whether it comes from a fixed-horizon or a sequential (always-valid) analysis."""
    colour = theme.VERDICT_COLOURS.get(decision, theme.NEUTRAL)
    method = {"fixed": "fixed-horizon analysis", "sequential": "sequential (always-valid) analysis"}.get(
        analysis or "", analysis or ""
    )
    return html.Article(
        [
            html.Div(
                [
                    html.Span(title, className="abk-verdict-title"),
                    html.Span(decision, className="abk-verdict-decision", style={"backgroundColor": colour}),
                ],
                className="abk-verdict-head",
            ),
            html.P(reason or "The report gives no verdict for this row.", className="abk-verdict-reason"),
            html.Div(method, className="abk-verdict-method"),
        ],
        className="abk-verdict",
        style={"borderLeftColor": colour},
    )


def flag_styles(column: str) -> list[dict[str, Any]]:
    """Mark raised flags (SRM) in red."""
    return [
        {
            "if": {"filter_query": f'{{{column}}} = "yes"', "column_id": column},
            "color": "white",
            "backgroundColor": theme.BAD,
            "fontWeight": "600",
        }
    ]


def notice(text: str | None) -> html.Div:
    """A banner above the page content (e.g. the snapshot does not match the filters)."""
    return html.Div(text or "", className="abk-notice" if text else "abk-notice-empty")
