"""Background refresh: one at a time, errors reported, and the real computation on a database."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from abkit.events import EventStore, connect
from dashboards.refresh import RefreshWorker, compute_snapshot, reporting_missing
from dashboards.snapshots import SnapshotKey, find_snapshot, load_report
from tests.dashboard_world import simulate


def test_worker_runs_one_refresh_at_a_time_and_reports_the_result():
    release = threading.Event()
    seen: list[tuple[str, SnapshotKey]] = []

    def compute(database: str, key: SnapshotKey) -> int:
        seen.append((database, key))
        release.wait(10)
        return 42

    worker = RefreshWorker("db.sqlite", compute)
    key = SnapshotKey("standing")
    assert worker.start(key)
    assert worker.state.running and worker.state.key == key
    assert not worker.start(SnapshotKey())  # refused while one runs: never two writers
    release.set()
    worker.join(10)
    state = worker.state
    assert (state.running, state.snapshot_id, state.error, state.generation) == (False, 42, None, 1)
    assert seen == [("db.sqlite", key)]


def test_worker_reports_a_failure_instead_of_raising():
    def compute(database: str, key: SnapshotKey) -> int:
        raise ValueError("since: must be before until")

    worker = RefreshWorker("db.sqlite", compute)
    worker.start(SnapshotKey())
    worker.join(10)
    assert worker.state.error == "ValueError: since: must be before until"
    assert worker.state.generation == 1 and not worker.state.running


def test_compute_snapshot_builds_and_stores_the_report(tmp_path):
    assert reporting_missing() is None
    path = str(tmp_path / "world.sqlite")
    simulate(tmp_path / "world.sqlite", 4000)
    key = SnapshotKey("standing", datetime(2026, 1, 5), datetime(2026, 1, 19))  # two weeks of v1 only
    snapshot_id = compute_snapshot(path, key)
    ro = connect(path, read_only=True)
    assert find_snapshot(ro, key).snapshot_id == snapshot_id
    report = load_report(ro, snapshot_id)
    assert report["experiment"] == "standing"
    assert [v["model_version"] for v in report["versions"]] == ["v1"]


def test_compute_snapshot_passes_on_bad_windows(tmp_path):
    path = str(tmp_path / "world.sqlite")
    EventStore.open(path).engine.dispose()
    with pytest.raises(ValueError):
        compute_snapshot(path, SnapshotKey(None, datetime(2026, 2, 1), datetime(2026, 1, 1)))
