"""Computing a new report snapshot in the background, so a refresh never blocks a page.

The dashboard reads through a read-only connection; the refresh opens its own writable
engine for the one insert it makes (``abkit.report.build_report`` + ``store_snapshot``).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from dashboards.snapshots import SnapshotKey

Compute = Callable[[str, SnapshotKey], int]


def reporting_missing() -> str | None:
    """Why reports cannot be computed here, or None when ``abkit.report`` is installed.

    Looks the modules up without importing them: the report stack pulls in scipy, which
    would cost seconds on the first page load.
    """
    for module in ("abkit.report.build", "abkit.report.snapshots"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            return f"Refresh needs {module}, which is not installed"
    return None


def compute_snapshot(database: str, key: SnapshotKey) -> int:
    """Build the report for ``key`` from the events and store it; return the new ``snapshot_id``."""
    from abkit.events.engine import connect
    from abkit.report.build import build_report
    from abkit.report.snapshots import store_snapshot

    engine = connect(database)  # writable, unlike the dashboard's own engine
    try:
        report = build_report(engine, experiment=key.experiment, since=key.since, until=key.until)
        return store_snapshot(engine, report.to_dict(), key.experiment, key.since, key.until)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class RefreshState:
    """The last (or current) refresh: what it computes, since when, and how it ended."""

    key: SnapshotKey | None = None
    running: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    snapshot_id: int | None = None
    error: str | None = None
    generation: int = 0  # counts finished refreshes, so pages know when to re-read


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class RefreshWorker:
    """Runs at most one snapshot computation at a time on a daemon thread."""

    def __init__(self, database: str, compute: Compute = compute_snapshot):
        self._database = database
        self._compute = compute
        self._lock = threading.Lock()
        self._state = RefreshState()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> RefreshState:
        with self._lock:
            return self._state

    def start(self, key: SnapshotKey) -> bool:
        """Start computing ``key``; False (and nothing started) when a refresh is already running."""
        with self._lock:
            if self._state.running:
                return False
            self._state = replace(
                self._state, key=key, running=True, started_at=_now(), finished_at=None, snapshot_id=None, error=None
            )
            self._thread = threading.Thread(target=self._run, args=(key,), name="abkit-dashboard-refresh", daemon=True)
            self._thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running refresh (tests and scripts; pages poll ``state`` instead)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, key: SnapshotKey) -> None:
        snapshot_id, error = None, None
        try:
            snapshot_id = self._compute(self._database, key)
        except Exception as exc:  # noqa: BLE001 - any failure is reported on the page, not raised in a thread
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._state = replace(
                self._state,
                running=False,
                finished_at=_now(),
                snapshot_id=snapshot_id,
                error=error,
                generation=self._state.generation + 1,
            )
