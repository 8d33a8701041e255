"""Database checks and snapshot lookups of the dashboard, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from abkit.events import EventStore, connect
from abkit.report.snapshots import store_snapshot
from dashboards.context import DashboardContext, describe_database
from dashboards.snapshots import (
    SnapshotError,
    SnapshotKey,
    experiment_names,
    find_snapshot,
    load_report,
    old_schema_notice,
    parse_report,
)

FIXTURE = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())
CASE = {"case_id": "c1", "handle_time_s": 600.0, "closed_at": "2026-01-05T10:00:00"}


def _status(url: str):
    return DashboardContext(url).status()


def test_missing_file_is_unreachable(tmp_path):
    status = _status(str(tmp_path / "nope.sqlite"))
    assert status.kind == "unreachable" and "no SQLite file" in status.message
    assert not (tmp_path / "nope.sqlite").exists()  # read-only: never creates the file


def test_file_without_tables_is_empty(tmp_path):
    path = tmp_path / "blank.sqlite"
    sqlite3.connect(path).close()
    assert _status(str(path)).kind == "empty"


def test_schema_without_rows_is_empty(sqlite_url):
    EventStore.open(sqlite_url).engine.dispose()
    status = _status(sqlite_url)
    assert status.kind == "empty" and "abkit simulate" in status.message


def test_foreign_tables_are_the_wrong_schema(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE selections (id INTEGER)")
    status = _status(str(path))
    assert status.kind == "wrong_schema"
    assert "table predictions is missing" in status.message
    assert "table selections lacks column(s) selection_id" in status.message


def test_events_without_a_report_ask_for_one(sqlite_url):
    EventStore.open(sqlite_url).write("case", [CASE])
    assert _status(sqlite_url).kind == "no_snapshot"


def test_a_stored_report_is_ready(sqlite_url):
    store_snapshot(EventStore.open(sqlite_url).engine, FIXTURE)
    assert _status(sqlite_url).can_show_reports


def test_unreachable_server_gives_a_message_not_an_exception():
    status = _status("postgresql://nobody:secret@127.0.0.1:1/none")
    assert status.kind == "unreachable"
    assert "secret" not in status.message  # the password is never shown


def test_describe_database_hides_the_password():
    assert describe_database("postgresql://u:pw@host/db") == "postgresql://u:***@host/db"


def test_snapshot_lookup_by_experiment_and_window(sqlite_url):
    engine = EventStore.open(sqlite_url).engine
    since, until = datetime(2026, 1, 5), datetime(2026, 1, 26)
    first = store_snapshot(engine, FIXTURE)
    windowed = store_snapshot(engine, {**FIXTURE, "experiment": "standing"}, "standing", since, until)
    newer = store_snapshot(engine, FIXTURE)
    ro = connect(sqlite_url, read_only=True)
    assert find_snapshot(ro, SnapshotKey()).snapshot_id == newer != first
    assert find_snapshot(ro, SnapshotKey("standing", since, until)).snapshot_id == windowed
    assert find_snapshot(ro, SnapshotKey("standing")) is None
    assert find_snapshot(ro, SnapshotKey(None, since, until)) is None
    assert experiment_names(ro) == ["standing"]


def test_selection_falls_back_to_the_experiments_all_time_report(sqlite_url):
    engine = EventStore.open(sqlite_url).engine
    all_time = store_snapshot(engine, FIXTURE)
    context = DashboardContext(sqlite_url)
    chosen = context.select(SnapshotKey(None, datetime(2026, 2, 1), None))
    assert chosen.ref.snapshot_id == all_time and not chosen.exact
    assert context.select(SnapshotKey("other")).ref is None
    assert context.report(all_time)["versions"][0]["model_version"] == "v1"


def test_reports_of_another_schema_version_are_refused(sqlite_url):
    engine = EventStore.open(sqlite_url).engine
    snapshot_id = store_snapshot(engine, {**FIXTURE, "schema_version": 99})
    with pytest.raises(SnapshotError, match="schema_version .* is 99; this dashboard reads 1 or 2"):
        load_report(engine, snapshot_id)
    # Schema 1 (before interaction-level CIs and verdicts) is still read.
    assert parse_report('{"schema_version": 1}', "test") == {"schema_version": 1}

    with pytest.raises(SnapshotError, match="no snapshot 999"):
        load_report(engine, 999)
    with pytest.raises(SnapshotError, match="not JSON"):
        parse_report("{", "test")
    with pytest.raises(SnapshotError, match="expected an object"):
        parse_report("[1]", "test")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"versions": {"v1": {}}}, "versions of test: expected a list of objects, got an object"),
        ({"versions": ["v1"]}, "versions of test: expected a list of objects, got a list holding a string"),
        ({"templates": []}, "templates of test: expected an object, got a list"),
        ({"totals": 12}, "totals of test: expected an object, got a number"),
        ({"templates": {**FIXTURE["templates"], "trends": [5]}}, "templates.trends of test: expected a list of obj"),
    ],
)
def test_a_report_whose_sections_have_the_wrong_json_type_is_refused_by_name(change, message):
    # Such a row used to reach the pages and fail their callbacks (AttributeError, TypeError).
    with pytest.raises(SnapshotError, match=message):
        parse_report(json.dumps({**FIXTURE, **change}), "test")
    assert parse_report(json.dumps({**FIXTURE, "power": None}), "test")["power"] is None


def test_a_report_older_than_abkit_report_writes_gets_a_notice(monkeypatch):
    import abkit.report.contract

    monkeypatch.setattr(abkit.report.contract, "SCHEMA_VERSION", 2)
    assert "older contract (schema 1)" in old_schema_notice({"schema_version": 1})
    assert old_schema_notice({"schema_version": 2}) is None


@pytest.mark.postgres
def test_status_and_lookup_on_postgres(postgres_url):
    assert _status(postgres_url).kind == "empty"
    store = EventStore.open(postgres_url)
    store.write("case", [CASE])
    assert _status(postgres_url).kind == "no_snapshot"
    since = datetime(2026, 1, 5)
    snapshot_id = store_snapshot(store.engine, FIXTURE, None, since, None)
    assert _status(postgres_url).kind == "ready"
    assert find_snapshot(connect(postgres_url, read_only=True), SnapshotKey(None, since)).snapshot_id == snapshot_id


@pytest.mark.postgres
def test_the_dashboards_postgres_connection_refuses_writes(postgres_url):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    EventStore.open(postgres_url).engine.dispose()
    engine = connect(postgres_url, read_only=True)
    with pytest.raises(DBAPIError, match="read-only transaction"), engine.begin() as conn:
        conn.execute(text("DELETE FROM cases"))
