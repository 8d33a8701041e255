"""The Dash app: a shell (navigation, filters, snapshot bar) around five Dash pages.

``create_app(database)`` builds one app on one database. Pages never query events: the
shell picks the stored report (snapshot) for the filters, pages draw from it, and Refresh
computes a new snapshot on a background thread while the page stays usable.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dash
from dash import Dash, Input, Output, State, dcc, html, no_update
from flask import Response, send_file
from sqlalchemy.exc import SQLAlchemyError

from abkit.report.plotly_bundle import VENDORED, bundle_version, unusable_reason
from dashboards import components as ui
from dashboards.auth import Credentials, require_login
from dashboards.context import DashboardContext, current_context
from dashboards.downloads import html_report_missing, register_downloads
from dashboards.pages import challengers, health, over_time, overview, templates
from dashboards.refresh import Compute, compute_snapshot, reporting_missing
from dashboards.snapshots import SnapshotError, SnapshotKey, experiment_names
from dashboards.tables import version_windows
from dashboards.view import View, parse_day, window_bounds

PAGES = (overview, over_time, challengers, templates, health)
ASSETS = Path(__file__).with_name("assets")
# Where the page loads the partial plotly.js (abkit.report.plotly_bundle) from, before Dash's renderer.
PARTIAL_PLOTLY_PATH = "/vendor/plotly-basic.min.js"
POLL_MS = 1000  # how often the page asks whether a background refresh has finished
logger = logging.getLogger(__name__)


def create_app(
    database: str,
    *,
    credentials: Credentials | None = None,
    compute: Compute = compute_snapshot,
    full_plotly: bool = False,
) -> Dash:
    """Build the dashboard for ``database`` (a path or SQLAlchemy URL), opened read-only.

    Args:
        database: the event database; it may be missing or empty: pages then say so.
        credentials: when given, every request needs HTTP basic auth with them.
        compute: how Refresh computes a snapshot (default: ``abkit.report`` on a writable engine).
        full_plotly: leave the vendored partial plotly.js out, so dcc.Graph loads Dash's full
            bundle (the benchmark's baseline); also the fallback when the partial one is unusable.
    """
    if not full_plotly and (reason := unusable_reason()):
        logger.warning("using Dash's full plotly.js: %s", reason)
        full_plotly = True
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        # Dash puts external scripts after React and before its renderer: window.Plotly is there first.
        external_scripts=[] if full_plotly else [f"{PARTIAL_PLOTLY_PATH}?v={bundle_version()}"],
        title="abkit experiments",
        suppress_callback_exceptions=True,  # page components exist only while their page is shown
        update_title=None,  # type: ignore[arg-type]  # None turns the 'Updating...' tab title off
    )
    if not full_plotly:
        app.server.add_url_rule(PARTIAL_PLOTLY_PATH, "partial_plotly", _partial_plotly)
    context = DashboardContext(database, compute=compute)
    context.install(app.server)
    if credentials is not None:
        require_login(app.server, credentials)
    register_downloads(app.server, context)
    for order, page in enumerate(PAGES):
        # The page registry is process-wide; layouts find their app's state via the request.
        dash.register_page(
            page.__name__, path=page.PATH, name=page.NAME, title=f"{page.NAME} · abkit", layout=page.layout, order=order
        )
        page.register_callbacks(app)
    app.layout = serve_layout
    _register_shell_callbacks(app)
    return app


def _partial_plotly() -> Response:
    # the URL names the release (?v=), so a browser may keep the file for a day
    return send_file(VENDORED, mimetype="text/javascript", max_age=86400)


def serve_layout() -> html.Div:
    """The page shell, or a message page when the database cannot be shown."""
    context = current_context()
    status = context.status()
    if status.kind in ("unreachable", "empty", "wrong_schema"):
        return ui.message_page(status.title, status.message, kind=status.kind)
    if status.kind == "no_snapshot":
        missing = reporting_missing()
        action = html.Div(
            [
                html.Button("Compute the report", id="refresh-button", className="abk-button", disabled=bool(missing)),
                html.Span(missing or "", id="refresh-status", className="abk-status"),
                *_refresh_stores(context),
                dcc.Location(id="reload", refresh=True),
            ]
        )
        return ui.message_page(status.title, status.message, kind=status.kind, action=action)
    return _shell(context)


def _refresh_state(context: DashboardContext) -> list[Any]:
    """The poll timer (running while a refresh is) and the count of finished refreshes."""
    return [
        dcc.Interval(id="refresh-poll", interval=POLL_MS, disabled=not context.refresh.state.running),
        dcc.Store(id="refresh-generation", data=context.refresh.state.generation),
    ]


def _refresh_stores(context: DashboardContext) -> list[Any]:
    return [
        *_refresh_state(context),
        # Filters the message page does not show (all experiments, all time), so the refresh
        # callback has the same inputs there as in the shell.
        html.Div([dcc.Input(id="f-experiment", type="hidden"), dcc.DatePickerRange(id="f-dates")], hidden=True),
    ]


def _shell(context: DashboardContext) -> html.Div:
    experiments = experiment_names(context.engine())
    missing_reporting = reporting_missing()
    missing_html = html_report_missing()
    nav = html.Nav(
        [
            dcc.Link(page["name"], href=page["relative_path"], className="abk-nav-link")
            for page in dash.page_registry.values()
        ],
        className="abk-nav",
    )
    filters = html.Div(
        [
            html.Label(
                [
                    "Experiment",
                    dcc.Dropdown(id="f-experiment", options=experiments, value=None, placeholder="All experiments"),
                ],
                className="abk-filter",
            ),
            html.Label(
                ["Model version", dcc.Dropdown(id="f-version", options=[], value=None, placeholder="All versions")],
                className="abk-filter",
            ),
            html.Label(
                [
                    "Window",
                    dcc.DatePickerRange(
                        id="f-dates",
                        clearable=True,
                        display_format="YYYY-MM-DD",
                        start_date_placeholder_text="since",
                        end_date_placeholder_text="until",
                    ),
                ],
                className="abk-filter abk-filter-dates",
            ),
        ],
        className="abk-filters",
    )
    snapshot_bar = html.Div(
        [
            html.Span(id="snapshot-info", className="abk-snapshot-info"),
            html.Button(
                "Refresh",
                id="refresh-button",
                className="abk-button",
                disabled=bool(missing_reporting),
                title=missing_reporting or "Compute a new report for these filters in the background",
            ),
            html.Span(missing_reporting or "", id="refresh-status", className="abk-status"),
            html.A(
                "Download HTML report",
                id="html-report",
                className="abk-download",
                href=None,  # set by choose_snapshot once a report is on screen and a renderer exists
                download="abkit-report.html",
                title=missing_html or "The report as one HTML file",
            ),
        ],
        className="abk-snapshot-bar",
    )
    return html.Div(
        [
            html.Header([html.H1("abkit · experiment results"), nav], className="abk-header"),
            html.Div([filters, snapshot_bar], className="abk-toolbar"),
            dcc.Store(id="snapshot"),
            *_refresh_state(context),
            html.Main(dash.page_container, className="abk-main"),
        ],
        className="abk-app",
    )


def _key(experiment: str | None, start: str | None, end: str | None) -> SnapshotKey:
    since, until = window_bounds(parse_day(start, "since"), parse_day(end, "until"))
    return SnapshotKey(experiment or None, since, until)


def _describe(key: SnapshotKey) -> str:
    scope = f"experiment {key.experiment}" if key.experiment else "all experiments"
    if key.is_all_time:
        return f"{scope}, all time"
    since = key.since.date().isoformat() if key.since else "start"
    until = (key.until - timedelta(days=1)).date().isoformat() if key.until else "now"  # until is exclusive
    return f"{scope}, {since} to {until}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _register_shell_callbacks(app: Dash) -> None:
    @app.callback(
        Output("snapshot", "data"),
        Output("f-version", "options"),
        Output("snapshot-info", "children"),
        Output("html-report", "href"),
        Input("f-experiment", "value"),
        Input("f-dates", "start_date"),
        Input("f-dates", "end_date"),
        Input("refresh-generation", "data"),
    )
    def choose_snapshot(experiment, start, end, _generation):
        context = current_context()
        try:
            key = _key(experiment, start, end)
        except ValueError as error:  # a hand-made request; the date picker sends ISO dates
            empty = {"snapshot_id": None, "exact": False, "experiment": experiment, "windows": {}, "notice": None}
            return empty, [], f"Cannot use the filters: {error}", None
        try:
            chosen = context.select(key)
            base = chosen if key.is_all_time else context.select(SnapshotKey(key.experiment))
            windows = version_windows(context.report(base.ref.snapshot_id)) if base.ref else {}
        except (SQLAlchemyError, SnapshotError, FileNotFoundError) as error:
            # The database went away or holds a report of another contract since the page loaded.
            empty = {"snapshot_id": None, "exact": False, "experiment": key.experiment, "windows": {}, "notice": None}
            return empty, [], f"Cannot read the stored reports: {error}", None
        notice = None
        if chosen.ref is None:
            info = f"No stored report for {_describe(key)}."
        else:
            info = f"Report computed {_stamp(chosen.ref.computed_at)} · {_describe(key if chosen.exact else SnapshotKey(key.experiment))}"
            if not chosen.exact:
                notice = (
                    f"No report is stored for {_describe(key)} yet: showing all time. "
                    "Press Refresh to compute one for this window."
                )
        data = {
            "snapshot_id": chosen.ref.snapshot_id if chosen.ref else None,
            "exact": chosen.exact,
            "experiment": key.experiment,
            "windows": windows,
            "notice": notice,
        }
        missing_html = html_report_missing()
        href = (
            None
            if missing_html or chosen.ref is None
            else f"/download/report.html?{View(chosen.ref.snapshot_id).query()}"
        )
        return data, sorted(windows), info, href

    @app.callback(
        Output("f-dates", "start_date"),
        Output("f-dates", "end_date"),
        Input("f-version", "value"),
        State("snapshot", "data"),
        prevent_initial_call=True,
    )
    def window_of_version(version, snapshot):
        # Choosing a version narrows the window to its deployment, so every page (and the
        # snapshot) is about that version; clearing it goes back to all time.
        if not version:
            return None, None
        first, last = ((snapshot or {}).get("windows") or {}).get(version, (None, None))
        if first is None:
            return no_update, no_update
        return first[:10], (last or first)[:10]

    @app.callback(
        Output("refresh-status", "children"),
        Output("refresh-poll", "disabled"),
        Output("refresh-generation", "data"),
        Input("refresh-button", "n_clicks"),
        Input("refresh-poll", "n_intervals"),
        State("f-experiment", "value"),
        State("f-dates", "start_date"),
        State("f-dates", "end_date"),
        State("refresh-generation", "data"),
        prevent_initial_call=True,
    )
    def refresh(_clicks, _ticks, experiment, start, end, generation):
        worker = current_context().refresh
        if dash.ctx.triggered_id == "refresh-button":
            try:
                key = _key(experiment, start, end)
            except ValueError as error:
                return f"Refresh refused: {error}", True, no_update
            if worker.start(key):
                return f"Computing the report for {_describe(key)} in the background…", False, no_update
        state = worker.state
        if state.running:
            started = _stamp(state.started_at) if state.started_at else ""
            return (
                f"Computing the report for {_describe(state.key or SnapshotKey())} (since {started})…",
                False,
                no_update,
            )
        if state.error:
            # No new snapshot: leave the generation alone, so nothing re-reads or reloads.
            return f"Refresh failed: {state.error}", True, no_update
        if state.generation != generation:
            return (
                f"Report computed at {_stamp(state.finished_at)}." if state.finished_at else "",
                True,
                state.generation,
            )
        return no_update, True, no_update

    @app.callback(
        Output("reload", "href"),
        Input("refresh-generation", "data"),
        prevent_initial_call=True,
    )
    def reload_after_first_report(_generation):
        # Only on the "no report yet" page: once the first report exists, show the dashboard.
        return "/"
