"""Per-app state: the read-only engine, the snapshot cache and the refresh worker."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from abkit.events.engine import connect, database_url
from dashboards.refresh import Compute, RefreshWorker, compute_snapshot
from dashboards.snapshots import SnapshotKey, SnapshotRef, find_snapshot, load_report
from dashboards.status import DatabaseStatus, database_status, unreachable

_CONFIG_KEY = "abkit.dashboard"
_CACHE_SIZE = 16  # parsed reports kept in memory; a snapshot never changes once stored


@dataclass(frozen=True)
class Selection:
    """The snapshot a page shows for the filters, and whether it matches them exactly."""

    ref: SnapshotRef | None
    exact: bool
    key: SnapshotKey


def describe_database(target: str) -> str:
    """A URL or path fit for a page: the password, if any, hidden."""
    try:
        return make_url(database_url(target)).render_as_string(hide_password=True)
    except ValueError:
        return target


def _sqlite_file(target: str) -> Path | None:
    """The file of a SQLite database, None for other backends (and in-memory SQLite)."""
    try:
        url = make_url(database_url(target))
    except ValueError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


class DashboardContext:
    """What the pages of one app share. Built once by ``create_app``."""

    def __init__(self, database: str, *, compute: Compute = compute_snapshot):
        self.database = database
        self.label = describe_database(database)
        self.refresh = RefreshWorker(database, compute)
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._reports: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._sqlite_file = _sqlite_file(database)

    def engine(self) -> Engine:
        """The read-only engine, opened on first use (so a missing file can appear later).

        Raises:
            FileNotFoundError, ValueError: the database cannot be opened (or its SQLite file is gone).
        """
        with self._lock:
            if self._engine is not None and self._sqlite_file and not self._sqlite_file.exists():
                # Deleted or moved while the app runs: pooled connections would go on reading the old file.
                self._engine.dispose()
                self._engine = None
                self._reports.clear()
            if self._engine is None:
                self._engine = connect(self.database, read_only=True)
            return self._engine

    def status(self) -> DatabaseStatus:
        try:
            engine = self.engine()
        except (FileNotFoundError, ValueError) as error:
            return unreachable(self.label, str(error))
        return database_status(engine, self.label)

    def select(self, key: SnapshotKey) -> Selection:
        """The latest snapshot for ``key``; else the experiment's all-time one (``exact=False``)."""
        engine = self.engine()
        ref = find_snapshot(engine, key)
        if ref is not None or key.is_all_time:
            return Selection(ref, ref is not None, key)
        return Selection(find_snapshot(engine, SnapshotKey(key.experiment)), False, key)

    def report(self, snapshot_id: int) -> dict[str, Any]:
        """The parsed report of a snapshot, cached by id."""
        with self._lock:
            if snapshot_id in self._reports:
                self._reports.move_to_end(snapshot_id)
                return self._reports[snapshot_id]
        report = load_report(self.engine(), snapshot_id)
        with self._lock:
            self._reports[snapshot_id] = report
            while len(self._reports) > _CACHE_SIZE:
                self._reports.popitem(last=False)
        return report

    def install(self, server: flask.Flask) -> None:
        server.config[_CONFIG_KEY] = self


def current_context() -> DashboardContext:
    """The context of the app serving the current request (pages are registered process-wide)."""
    return flask.current_app.config[_CONFIG_KEY]
