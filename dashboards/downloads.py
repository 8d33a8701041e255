"""Download routes: every table as CSV and the HTML report, for the snapshot on the page.

Served by Flask next to the Dash app (``/download/<table>.csv?snapshot=..&version=..``), so a
link is an ordinary HTTP download that also works from scripts (with the login, if any).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, request

from dashboards.context import DashboardContext
from dashboards.snapshots import SnapshotError
from dashboards.view import View, build_table

HtmlRenderer = Callable[[Mapping[str, Any]], str]
_RENDERER = "abkit.report.render_html"


def html_renderer() -> tuple[HtmlRenderer | None, str | None]:
    """``abkit.report``'s HTML renderer for a report dict, or (None, why it is unavailable).

    Imported only when a report is downloaded; pages ask :func:`html_report_missing`.
    """
    missing = html_report_missing()
    if missing:
        return None, missing
    from abkit.report.render_html import render_html

    return render_html, None


def html_report_missing() -> str | None:
    """Why the HTML report cannot be offered, or None; a module lookup, not an import."""
    try:
        found = importlib.util.find_spec(_RENDERER) is not None
    except ImportError:
        found = False
    return None if found else f"the HTML report needs {_RENDERER}, which is not installed"


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, mimetype="text/plain")


def register_downloads(server: Flask, context: DashboardContext) -> None:
    """Add the download routes to ``server``."""

    def _report(view: View) -> dict[str, Any]:
        if view.snapshot_id is None:
            raise ValueError("snapshot: missing; the download link names the snapshot shown on the page")
        return context.report(view.snapshot_id)

    @server.route("/download/<name>.csv")
    def download_csv(name: str) -> Response:
        try:
            view = View.from_query(request.args)
            frame = build_table(name, _report(view), view)
        except KeyError as error:
            return _text(404, str(error.args[0]))
        except (ValueError, SnapshotError) as error:
            return _text(400, str(error))
        return Response(
            frame.to_csv(index=False),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )

    @server.route("/download/report.html")
    def download_html() -> Response:
        render, missing = html_renderer()
        if render is None:
            return _text(503, str(missing))
        try:
            report = _report(View.from_query(request.args))
        except (ValueError, SnapshotError) as error:
            return _text(400, str(error))
        try:
            page = render(report)
        except (KeyError, TypeError, ValueError) as error:
            # A report the renderer cannot draw is reported plainly, not as a stack trace.
            return _text(500, f"the HTML renderer failed on snapshot {request.args.get('snapshot')}: {error!r}")
        return Response(
            page,
            mimetype="text/html",
            headers={"Content-Disposition": 'attachment; filename="abkit-report.html"'},
        )
