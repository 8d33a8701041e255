"""The same report from SQLite, DuckDB, PostgreSQL and Parquet/CSV exports of the same events;
every query compiles for Trino."""

from __future__ import annotations

import json
import math
import time
from datetime import date, datetime

import polars as pl
import pytest
from sqlalchemy import column, create_engine, select, table, text
from sqlalchemy.dialects import postgresql, sqlite
from trino.sqlalchemy.dialect import TrinoDialect

from abkit.events import EventStore
from abkit.events.schema import selections
from abkit.report import queries
from abkit.report.build import build_report
from abkit.report.dialects import day_of, percentiles, week_start
from abkit.report.files_source import FilesSource
from abkit.report.groups import Phase, Plan, Window
from abkit.report.sql_source import SqlSource
from tests.report_events import EXPERIMENTS, PHASES_RECORDED, RELEASES, event_frames, write_events

NOW = datetime(2026, 2, 1)
WINDOW = {"experiment": None, "since": datetime(2026, 1, 6), "until": datetime(2026, 1, 30)}


@pytest.fixture(scope="module")
def frames():
    return event_frames(seed=11, interactions=150)


@pytest.fixture(scope="module")
def sqlite_report(frames, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'events.sqlite'}"
    write_events(url, frames)
    return build_report(url, now=NOW, **WINDOW).to_dict()


def assert_same(left, right, path="report"):
    """Equal structure and values; floats to a relative 1e-9 (backends sum in different orders)."""
    if isinstance(left, dict):
        assert set(left) == set(right), f"{path}: keys differ {set(left) ^ set(right)}"
        for key in left:
            assert_same(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert len(left) == len(right), f"{path}: lengths {len(left)} != {len(right)}"
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(left, float) and isinstance(right, float):
        assert math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {left} != {right}"
    else:
        assert left == right, f"{path}: {left!r} != {right!r}"


def export(frames, directory, *, csv: bool = False) -> None:
    directory.mkdir()
    for kind, name in (("selection", "selections"), ("prediction", "predictions"), ("case", "cases")):
        if csv:
            frames[kind].write_csv(directory / f"{name}.csv")
        else:
            frames[kind].write_parquet(directory / f"{name}.parquet")
    pl.DataFrame({"name": list(EXPERIMENTS), "arms_json": [json.dumps(a) for a in EXPERIMENTS.values()]}).write_parquet(
        directory / "experiments.parquet"
    )
    pl.DataFrame(
        {
            "experiment": list(EXPERIMENTS),
            "phase": [1] * len(EXPERIMENTS),
            "salt": list(EXPERIMENTS),
            "arms_json": [json.dumps(a) for a in EXPERIMENTS.values()],
            "started_at": [PHASES_RECORDED] * len(EXPERIMENTS),
        }
    ).write_parquet(directory / "experiment_phases.parquet")
    pl.DataFrame({"model_version": list(RELEASES), "released_at": list(RELEASES.values())}).write_parquet(
        directory / "model_versions.parquet"
    )


def test_duckdb_gives_the_sqlite_report(frames, sqlite_report, tmp_path):
    url = f"duckdb:///{tmp_path / 'events.duckdb'}"
    write_events(url, frames)
    assert_same(build_report(url, now=NOW, **WINDOW).to_dict(), sqlite_report)


@pytest.mark.postgres
def test_postgres_gives_the_sqlite_report(frames, sqlite_report, postgres_url):
    write_events(postgres_url, frames)
    assert_same(build_report(postgres_url, now=NOW, **WINDOW).to_dict(), sqlite_report)


@pytest.mark.parametrize("csv", [False, True], ids=["parquet", "csv"])
def test_exported_files_give_the_sqlite_report(frames, sqlite_report, tmp_path, csv):
    export(frames, tmp_path / "export", csv=csv)
    assert_same(build_report(tmp_path / "export", now=NOW, **WINDOW).to_dict(), sqlite_report)


@pytest.fixture
def local_time_new_york(monkeypatch):
    """The process's local time zone is not UTC (DuckDB's session default follows it)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("csv", [False, True], ids=["parquet", "csv"])
def test_timezone_aware_exports_are_converted_to_utc(frames, sqlite_report, tmp_path, csv, local_time_new_york):
    aware = dict(frames)
    for kind in ("selection", "prediction"):
        column = pl.col("created_at").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Berlin")
        aware[kind] = frames[kind].with_columns(column)
    export(aware, tmp_path / "export", csv=csv)
    assert_same(build_report(tmp_path / "export", now=NOW, **WINDOW).to_dict(), sqlite_report)


def test_export_directory_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no directory"):
        FilesSource(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="selections"):
        FilesSource(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    pl.DataFrame({"selection_id": ["s1"]}).write_parquet(tmp_path / "bad" / "selections.parquet")
    with pytest.raises(ValueError, match="missing columns"):
        FilesSource(tmp_path / "bad")


def test_empty_duckdb_and_parquet(tmp_path):
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    EventStore.open(url)
    document = build_report(url, now=NOW).to_dict()
    assert document["versions"] == [] and document["totals"]["selections"] == 0
    empty = {kind: frame.head(0) for kind, frame in event_frames(interactions=3).items()}
    export(empty, tmp_path / "export")
    exported = build_report(tmp_path / "export", now=NOW).to_dict()
    assert [row["experiment"] for row in exported.pop("phases")] == list(EXPERIMENTS)  # the export's registry
    document.pop("phases")
    assert_same(exported, document)


@pytest.mark.parametrize(
    ("moment", "monday"),
    [
        (datetime(2026, 1, 5, 0, 0), date(2026, 1, 5)),  # Monday stays
        (datetime(2026, 1, 11, 23, 59, 59), date(2026, 1, 5)),  # Sunday goes back six days
        (datetime(2026, 1, 1, 12), date(2025, 12, 29)),  # across a year
    ],
)
def test_week_start_is_iso_monday_on_every_engine(tmp_path, moment, monday):
    for url in (f"sqlite:///{tmp_path / 'w.sqlite'}", f"duckdb:///{tmp_path / 'w.duckdb'}"):
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS t (created_at TIMESTAMP)"))
            conn.execute(text("DELETE FROM t"))
            conn.execute(text("INSERT INTO t VALUES (:m)"), {"m": moment})
            t = table("t", column("created_at"))
            got = conn.execute(select(week_start(t.c.created_at), day_of(t.c.created_at))).one()
        assert (str(got[0])[:10], str(got[1])[:10]) == (monday.isoformat(), moment.date().isoformat())


def _all_queries(window: Window):
    shift = 12.5
    phases = (Phase("standing", 1, "s", (("holdout", 0.02), ("v1", 0.98)), datetime(2026, 1, 1)),)
    plan = Plan(((("standing", "v1", "v1"), shift),), phases, "hour")
    yield queries.bounds_query(window)
    yield queries.arm_groups_query(window, plan)
    yield queries.hit_groups_query(window)
    yield queries.template_groups_query(window, plan)
    yield queries.week_groups_query(window, shift)
    yield queries.bucket_groups_query(window, plan)
    yield queries.interaction_families_query(window, plan)
    yield queries.prediction_days_query(window)
    yield queries.latency_query(window)
    yield queries.case_groups_query(window)
    yield queries.case_count_query(window)


def test_every_query_compiles_for_trino():
    window = Window("standing", datetime(2026, 1, 1), datetime(2026, 2, 1))
    for query in _all_queries(window):
        sql = str(query.compile(dialect=TrinoDialect()))
        assert "SELECT" in sql
    week = str(select(week_start(selections.c.created_at)).compile(dialect=TrinoDialect()))
    assert "date_trunc('week'" in week
    assert "approx_percentile" in str(queries.latency_query(window).compile(dialect=TrinoDialect()))


def test_percentile_spelling_per_dialect():
    column = selections.c.selection_time_s
    assert "percentile_cont(CAST(ARRAY[0.9] AS DOUBLE PRECISION[])) WITHIN GROUP" in str(
        select(percentiles(column, (0.9,))).compile(dialect=postgresql.dialect())
    )
    with pytest.raises(Exception, match="SQLite has no percentile"):
        str(select(percentiles(column, (0.9,))).compile(dialect=sqlite.dialect()))
    with pytest.raises(ValueError, match="fraction"):
        percentiles(column, (1.5,))


def test_sql_source_never_returns_event_rows(frames, tmp_path):
    # O(groups): the arm family returns one row per (experiment, version, arm), not per interaction.
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    write_events(url, frames)
    source = SqlSource(url)
    bounds = source.bounds(Window())
    groups = source.groups(
        Window(), Plan(tuple((b.key, b.low) for b in bounds), tuple(source.experiment_phases()))
    ).arms
    keys = frames["selection"].select("experiment", "model_version", "arm").unique()
    assert len(bounds) == keys.height
    assert len(groups) == keys.height  # one phase per experiment here
    assert sum(g.n for g in groups) == frames["selection"].height


def test_report_from_a_url_releases_the_database_it_opened(frames, tmp_path):
    """A DuckDB file admits one read-write process: the report must not keep it open after returning.

    The check opens the file from a second process, which DuckDB refuses while this process still
    holds a connection to it (the report's engine, if it were left undisposed).
    """
    import subprocess
    import sys

    path = tmp_path / "events.duckdb"
    write_events(f"duckdb:///{path}", frames).close()
    build_report(f"duckdb:///{path}", now=NOW)
    probe = f"import duckdb; duckdb.connect({str(path)!r}).execute('SELECT count(*) FROM selections').fetchall()"
    opened = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert opened.returncode == 0, opened.stderr[-500:]


def test_report_leaves_a_given_engine_open(frames, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'events.sqlite'}")
    write_events(engine.url.render_as_string(), frames)
    build_report(engine, now=NOW)
    with engine.connect() as conn:  # still usable: the caller owns it
        assert conn.execute(text("SELECT count(*) FROM selections")).scalar() > 0
