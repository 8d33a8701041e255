"""Download routes: every table as CSV and the HTML report, for the snapshot on the page.

Served by Flask next to the Dash app (``/download/<table>.csv?snapshot=..&version=..``), so a
link is an ordinary HTTP download that also works from scripts (with the login, if any).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from flask import Flask, Response, request
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from dashboards.context import DashboardContext
from dashboards.snapshots import SnapshotError
from dashboards.status import driver_cause
from dashboards.view import View, build_table

HtmlRenderer = Callable[[Mapping[str, Any]], str]
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_RENDERER = "abkit.report.render_html"


def html_renderer() -> tuple[HtmlRenderer | None, str | None]:
    """``abkit.report``'s HTML renderer for a stored report's JSON, or (None, why it is unavailable).

    The JSON is read into the typed report first (``Report.model_validate``: a pydantic
    ValidationError, a ValueError, names what does not follow the contract). Imported only when
    a report is downloaded; pages ask :func:`html_report_missing`.
    """
    missing = html_report_missing()
    if missing:
        return None, missing
    from abkit.report.contract import Report
    from abkit.report.render_html import render_html

    return lambda document: render_html(Report.model_validate(document)), None


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])}: {first['msg']}"


def html_report_missing() -> str | None:
    """Why the HTML report cannot be offered, or None; a module lookup, not an import."""
    try:
        found = importlib.util.find_spec(_RENDERER) is not None
    except ImportError:
        found = False
    return None if found else f"the HTML report needs {_RENDERER}, which is not installed"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` safe to open in a spreadsheet: every text cell that starts with
    ``= + - @``, a tab or a carriage return gets a leading single quote, as OWASP advises, so
    Excel, LibreOffice and Google Sheets show it as text instead of running it.

    Only text cells change. Figures live in numeric columns and are written as numbers, so a
    saving of ``-0.45`` stays a number; a text cell such as a template id ``-2+3`` is quoted
    even when it looks numeric, because in a text column it is data someone typed, not a figure.
    """
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda cell: "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES) else cell
            )
    return safe


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, mimetype="text/plain")


def _unreachable(error: Exception) -> Response:
    return _text(503, f"cannot read the stored reports: {driver_cause(error)}")


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
        except (SQLAlchemyError, FileNotFoundError) as error:
            return _unreachable(error)
        return Response(
            # CRLF line ends (RFC 4180), so a cell holding a lone CR is quoted instead of splitting its row.
            neutralise_formulas(frame).to_csv(index=False, lineterminator="\r\n"),
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
        except (SQLAlchemyError, FileNotFoundError) as error:
            return _unreachable(error)
        try:
            page = render(report)
        except ValidationError as error:
            snapshot = request.args.get("snapshot")
            return _text(
                422,
                f"snapshot {snapshot} does not follow the report contract this abkit renders "
                f"(schema_version {report.get('schema_version')!r}; {error.error_count()} problems, first: "
                f"{_first_problem(error)}); press Refresh to compute the report again",
            )
        except (KeyError, TypeError, ValueError) as error:
            # A report the renderer cannot draw is reported plainly, not as a stack trace.
            return _text(500, f"the HTML renderer failed on snapshot {request.args.get('snapshot')}: {error!r}")
        return Response(
            page,
            mimetype="text/html",
            headers={"Content-Disposition": 'attachment; filename="abkit-report.html"'},
        )
