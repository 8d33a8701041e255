"""What a page shows: the snapshot and the filters, carried in callbacks and download URLs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from dashboards import tables, timeline
from dashboards.power_table import power_table


@dataclass(frozen=True)
class View:
    """A snapshot plus the filters applied to it on the page (dates are inclusive days)."""

    snapshot_id: int | None = None
    experiment: str | None = None
    version: str | None = None
    since: date | None = None
    until: date | None = None
    top_n: int | None = None

    def query(self) -> str:
        """URL query string that :meth:`from_query` reads back."""
        params = {
            "snapshot": self.snapshot_id,
            "experiment": self.experiment,
            "version": self.version,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "top_n": self.top_n,
        }
        return urlencode({k: v for k, v in params.items() if v not in (None, "")})

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> View:
        """Parse the query string of a download URL.

        Raises:
            ValueError: naming the parameter that is malformed.
        """
        return cls(
            snapshot_id=_int(args, "snapshot"),
            experiment=args.get("experiment") or None,
            version=args.get("version") or None,
            since=parse_day(args.get("since"), "since"),
            until=parse_day(args.get("until"), "until"),
            top_n=_int(args, "top_n"),
        )


_MAX_ID = 2**63 - 1  # the largest integer a database key column holds


def _int(args: Mapping[str, str], name: str) -> int | None:
    text = args.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {text!r}") from None
    return check_id(value, name)


def check_id(value: object, name: str) -> int:
    """``value`` if it is an integer a database key can hold (1 to 2^63-1).

    Raises:
        ValueError: naming ``name`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_ID:
        raise ValueError(f"{name}: expected an integer from 1 to {_MAX_ID}, got {value!r}")
    return value


def parse_day(text: str | None, name: str) -> date | None:
    """A day from a date picker (``YYYY-MM-DD``, possibly with a time part) or None."""
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {text!r}") from None


def window_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Report window for inclusive days: ``[since 00:00, day after until 00:00)``."""
    start = datetime.combine(since, time()) if since else None
    end = datetime.combine(until + timedelta(days=1), time()) if until else None
    return start, end


TableBuilder = Callable[[Mapping[str, Any], View], pd.DataFrame]

# Every table on every page, by the name used in its download URL.
TABLES: dict[str, TableBuilder] = {
    "overview": lambda report, view: tables.overview_table(report, view.version),
    "challengers": lambda report, view: tables.challengers_table(report, view.version),
    "templates": lambda report, view: tables.templates_table(report, view.top_n),
    "timeline": lambda report, view: timeline.timeline_table(report, view.since, view.until),
    "sequence": lambda report, view: timeline.sequence_table(report, view.version),
    "phases": lambda report, view: timeline.phases_table(report, view.experiment),
    "version_phases": lambda report, view: timeline.version_phases_table(report, view.version),
    "srm": lambda report, view: tables.srm_table(report),
    "daily_events": lambda report, view: tables.daily_events_table(
        report, experiment=view.experiment, version=view.version, since=view.since, until=view.until
    ),
    "latency": lambda report, view: tables.latency_table(report, view.version),
    "power": lambda report, view: power_table(report, view.version),
}


def build_table(name: str, report: Mapping[str, Any], view: View) -> pd.DataFrame:
    """The named table for a report and view.

    Raises:
        KeyError: unknown table name.
    """
    if name not in TABLES:
        raise KeyError(f"table: unknown table {name!r}; expected one of {sorted(TABLES)}")
    return TABLES[name](report, view)
