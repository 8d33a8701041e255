"""Is the database one the dashboard can show? Unreachable, empty, wrong schema, or ready.

The checks are catalogue lookups and ``LIMIT 1`` probes, cheap enough to run on every page
load, so the message page appears (and disappears) as soon as the database changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from abkit.events.schema import EVENT_TABLES, report_snapshots

StatusKind = Literal["ready", "no_snapshot", "empty", "wrong_schema", "unreachable"]

# Tables whose columns the dashboard (or the refresh that fills it) reads.
_CHECKED_TABLES = (*EVENT_TABLES.values(), report_snapshots)


def driver_cause(error: BaseException) -> BaseException:
    """The database driver's error behind a SQLAlchemy one (its message, without SQLAlchemy's SQL
    echo); any other error as it is."""
    return getattr(error, "orig", None) or error


@dataclass(frozen=True)
class DatabaseStatus:
    """What the dashboard found; ``message`` is written for the analyst looking at the page."""

    kind: StatusKind
    title: str
    message: str

    @property
    def can_show_reports(self) -> bool:
        return self.kind == "ready"


def unreachable(database: str, reason: str) -> DatabaseStatus:
    """The status for a database that could not be opened at all."""
    return DatabaseStatus("unreachable", "Database unreachable", f"Cannot open {database}: {reason}")


def database_status(engine: Engine, database: str) -> DatabaseStatus:
    """Check ``engine``'s database: tables present, columns as abkit writes them, any data.

    Args:
        engine: a read-only engine on the database.
        database: how to name the database in messages (a URL without password, a path).
    """
    try:
        with engine.connect() as conn:
            inspector = inspect(conn)
            names = set(inspector.get_table_names())
            if not names:
                return _empty(database)
            problems = []
            for table in _CHECKED_TABLES:
                if table.name not in names:
                    problems.append(f"table {table.name} is missing")
                    continue
                present = {column["name"] for column in inspector.get_columns(table.name)}
                missing = [column.name for column in table.columns if column.name not in present]
                if missing:
                    problems.append(f"table {table.name} lacks column(s) {', '.join(missing)}")
            if problems:
                return DatabaseStatus(
                    "wrong_schema",
                    "Not an abkit event database",
                    f"{database} does not have the abkit schema: {'; '.join(problems)}. "
                    "Point the dashboard at a database written by abkit (simulate, ingest or serve).",
                )
            has_snapshot = conn.execute(select(report_snapshots.c.snapshot_id).limit(1)).first() is not None
            has_events = any(
                conn.execute(select(table.c[table.primary_key.columns.keys()[0]]).limit(1)).first() is not None
                for table in EVENT_TABLES.values()
            )
    except SQLAlchemyError as error:
        return unreachable(database, str(driver_cause(error)).strip())
    if has_snapshot:
        return DatabaseStatus("ready", "Ready", "")
    if not has_events:
        return _empty(database)
    return DatabaseStatus(
        "no_snapshot",
        "No report computed yet",
        f"{database} holds events but no stored report. Compute one here (it runs in the background) "
        "or with `abkit report --db ... --store`.",
    )


def _empty(database: str) -> DatabaseStatus:
    return DatabaseStatus(
        "empty",
        "No data yet",
        f"{database} has no events and no stored report. Write events with `abkit simulate`, "
        "`abkit ingest` or the serving API, then compute a report with `abkit report --store`.",
    )
