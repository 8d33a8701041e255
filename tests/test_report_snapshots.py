"""store_snapshot / latest_snapshot on SQLite, DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abkit.events import EventStore
from abkit.report.snapshots import latest_snapshot, store_snapshot


def _roundtrip(url: str) -> None:
    assert latest_snapshot(url) is None  # no table yet
    first = store_snapshot(url, {"n": 1}, None)
    second = store_snapshot(url, {"n": 2}, None, since=datetime(2026, 1, 1, tzinfo=UTC))
    store_snapshot(url, {"n": 3}, "standing")
    assert second > first
    computed_at, report = latest_snapshot(url)
    assert report == {"n": 2} and computed_at.tzinfo is None
    assert latest_snapshot(url, "standing")[1] == {"n": 3}
    assert latest_snapshot(url, "other") is None


def test_sqlite_roundtrip(sqlite_url):
    _roundtrip(sqlite_url)


def test_duckdb_roundtrip(tmp_path):
    _roundtrip(f"duckdb:///{tmp_path / 'snapshots.duckdb'}")


@pytest.mark.postgres
def test_postgres_roundtrip(postgres_url):
    _roundtrip(postgres_url)


def test_engine_and_existing_store(sqlite_url):
    store = EventStore.open(sqlite_url)
    store_snapshot(store.engine, {"n": 1}, "e")
    assert latest_snapshot(store.engine, "e")[1] == {"n": 1}


def test_nan_is_refused(sqlite_url):
    with pytest.raises(ValueError, match="report_json"):
        store_snapshot(sqlite_url, {"p": float("nan")}, None)
    with pytest.raises(ValueError, match="report_json"):
        store_snapshot(sqlite_url, {"when": datetime(2026, 1, 1)}, None)
