"""What every page callback starts from: the snapshot chosen by the filters, read once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dash import Input
from sqlalchemy.exc import SQLAlchemyError

from dashboards.context import current_context
from dashboards.snapshots import SnapshotError, old_schema_notice
from dashboards.status import driver_cause
from dashboards.view import View, check_id, parse_day

# The shell's filters and the chosen snapshot: the inputs of every page callback.
FILTER_INPUTS = [
    Input("snapshot", "data"),
    Input("f-version", "value"),
    Input("f-dates", "start_date"),
    Input("f-dates", "end_date"),
]


@dataclass(frozen=True)
class PageData:
    """The view for the current filters, its report (None when there is none) and a notice."""

    view: View
    report: dict[str, Any] | None
    notice: str | None


def load(
    snapshot: dict[str, Any] | None, version: str | None, start: str | None, end: str | None, top_n: int | None = None
) -> PageData:
    """Read the snapshot the shell chose (from the cache after the first page) and apply the filters."""
    snapshot = snapshot or {}
    snapshot_id = snapshot.get("snapshot_id")
    try:
        since, until = parse_day(start, "since"), parse_day(end, "until")
        if snapshot_id is not None:
            check_id(snapshot_id, "snapshot")
    except ValueError as error:  # a hand-made request; the page sends ISO dates and stored ids
        return PageData(View(None, snapshot.get("experiment")), None, f"Cannot use the filters: {error}")
    view = View(
        snapshot_id=snapshot_id,
        experiment=snapshot.get("experiment"),
        version=version or None,
        since=since,
        until=until,
        top_n=top_n,
    )
    if snapshot_id is None:
        scope = f"experiment {snapshot['experiment']}" if snapshot.get("experiment") else "all experiments"
        return PageData(view, None, f"No report is stored for {scope} yet. Press Refresh to compute one.")
    try:
        report = current_context().report(snapshot_id)
    except SnapshotError as error:
        return PageData(view, None, f"The stored report cannot be read: {error}")
    except (SQLAlchemyError, FileNotFoundError) as error:  # the database went away since the page loaded
        cause = driver_cause(error)
        return PageData(view, None, f"Cannot read the stored reports: {cause}. Reload the page once it is back.")
    notice = " ".join(filter(None, [snapshot.get("notice"), old_schema_notice(report)]))
    return PageData(view, report, notice or None)
