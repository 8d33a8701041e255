"""The one scan (abkit/report/one_scan.py, scan_queries.py): the selections are grouped by interaction
once per report, and the report equals the per-family path's.

Expected values: the SQLite report (one query per family, every sum taken about the arm's shift row
by row) on the same events, numpy on the raw selections, and counts of the statements the engine ran.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from duckdb_engine import Dialect as DuckDBDialect
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.dialects import postgresql
from trino.sqlalchemy.dialect import TrinoDialect

from abkit.events import EventStore
from abkit.events.engine import connect
from abkit.events.schema import selections
from abkit.report.build import build_report, plan_for
from abkit.report.case_queries import arm_cases_query, window_cases_table
from abkit.report.dialects import hour_of
from abkit.report.groups import Plan, Window
from abkit.report.one_scan import prediction_families_query
from abkit.report.queries import case_count_query, case_groups_query
from abkit.report.scan_queries import (
    DropMaterialized,
    MaterializeAs,
    bounds_from,
    bucket_groups_from,
    interactions_from,
    reduced_table,
    selection_groups_query,
    template_groups_from,
)
from abkit.report.spark_dialect import SparkDialect
from abkit.report.sql_source import POSTGRES_WORK_MEM, SqlSource
from tests.report_events import event_frames, write_events
from tests.test_report_backends import NOW, WINDOW, assert_same

START = datetime(2026, 5, 4)

# A statement that reads the cases table (not the scan's materialised window cases, abkit_scan_..._cases).
READS_CASES = re.compile(r"\b(FROM|JOIN)\s+cases\b")


def _selection(i: int, interaction: int, arm: str, seconds: float) -> dict:
    return {
        "selection_id": f"s{i}",
        "case_id": f"c{interaction}",
        "message_id": f"m{i}",
        "advocate_id": f"a{interaction % 5}",
        "experiment": "v5-challenger",
        "arm": arm,
        "model_version": "v4" if arm == "holdout" else arm,
        "template_id": f"T{i % 3}",
        "selection_time_s": seconds,
        "created_at": START + timedelta(minutes=i),
        "prediction_id": None,
    }


@pytest.fixture(scope="module")
def frames():
    return event_frames(seed=5, interactions=120)


def _statements(url: str, **options) -> list[str]:
    source = SqlSource(url)
    statements: list[str] = []
    event.listen(source.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    build_report(source, now=NOW, **options)
    source.close()
    return statements


def test_the_selections_are_grouped_by_interaction_once_per_report(frames, tmp_path):
    url = f"duckdb:///{tmp_path / 'events.duckdb'}"
    write_events(url, frames).close()
    # a power period longer than the traffic: power's recent window is the whole window
    statements = _statements(url, power_days=3650)
    reading = [sql for sql in statements if "FROM selections" in sql]
    interaction_groupings = [sql for sql in reading if "advocate_id" in sql.split("GROUP BY")[-1]]
    assert len(interaction_groupings) == 1 and interaction_groupings[0].startswith("CREATE TEMPORARY TABLE")
    # Besides it: the holdout's selections for the hits, the pre-period's for the CUPED covariate.
    others = [sql for sql in reading if sql not in interaction_groupings]
    assert len(others) == 2
    assert any("selections.arm = " in sql and "JOIN predictions" in sql for sql in others)
    assert any("pre_period" in sql for sql in others)
    assert sum(bool(READS_CASES.search(sql)) for sql in statements) == 1  # the window's cases, materialised
    # The predictions: the hits' join, and one statement for the prediction days and the latency.
    over_predictions = [sql for sql in statements if "FROM predictions" in sql and "JOIN" not in sql]
    assert len(over_predictions) == 1 and "percentile_cont" in over_predictions[0]
    assert "UNION ALL" in over_predictions[0]
    assert any(sql.startswith("DROP TABLE") for sql in statements)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_report_reads_the_cases_once_and_counts_them_as_the_reference_queries_do(frames, tmp_path, engine, request):
    # A case with no selection, and selections in the window of a case missing from the cases table:
    # neither counts.
    selected = frames["selection"].filter(pl.col("created_at").is_between(WINDOW["since"], WINDOW["until"]))
    missing = selected["case_id"][0]
    case_rows = frames["case"].filter(pl.col("case_id") != missing)
    extra = case_rows.head(1).with_columns(pl.lit("c-without-selections").alias("case_id"))
    frames = {**frames, "case": pl.concat([case_rows, extra])}
    url = f"duckdb:///{tmp_path / 'events.duckdb'}" if engine == "duckdb" else request.getfixturevalue("postgres_url")
    write_events(url, frames).close()
    source = SqlSource(url)
    statements: list[str] = []
    event.listen(source.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    report = build_report(source, now=NOW, **WINDOW).to_dict()
    (reading,) = [sql for sql in statements if READS_CASES.search(sql)]  # once, for the count, groups and guardrail
    assert reading.startswith("CREATE TEMPORARY TABLE")
    # Expected: the reference queries (sql/reference_*.sql) run on the same window.
    window = Window(**WINDOW)
    with source.scan(window) as scanned:
        groups = scanned.groups(window, plan_for(scanned.bounds(window), tuple(source.experiment_phases())))
    with source.engine.connect() as conn:
        case_count = conn.execute(case_count_query(window)).scalar_one()
        case_groups = sorted(tuple(row) for row in conn.execute(case_groups_query(window)).all())
    source.close()
    assert 0 < case_count < len(case_rows)  # the window leaves cases out
    assert groups.case_count == report["totals"]["cases"] == case_count
    assert [(g.experiment, g.model_version, g.cases, g.selections) for g in groups.cases] == [
        row[:4] for row in case_groups
    ]
    assert [g.handle_time_sum for g in groups.cases] == pytest.approx([row[4] for row in case_groups], rel=1e-12)


def _straddled_power_days(frames) -> float:
    """A power period whose start falls inside an interaction (between its first and last selection)."""
    selections = frames["selection"].to_pandas()
    spans = selections.groupby(["advocate_id", "case_id"]).created_at.agg(["min", "max"])
    first, last = spans[spans["max"] > spans["min"]].iloc[0]
    cut = first + (last - first) / 2
    return (selections.created_at.max() - cut).total_seconds() / 86400


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_power_over_a_later_part_of_the_window_reads_only_the_straddling_slice_again(frames, tmp_path, engine, request):
    days = _straddled_power_days(frames)
    sqlite_url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    write_events(sqlite_url, frames).close()
    expected = build_report(sqlite_url, now=NOW, power_days=days).to_dict()
    assert expected["power"]  # there is a plan to compare
    url = f"duckdb:///{tmp_path / 'events.duckdb'}" if engine == "duckdb" else request.getfixturevalue("postgres_url")
    write_events(url, frames).close()
    source = SqlSource(url)
    statements: list[str] = []
    event.listen(source.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert_same(build_report(source, now=NOW, power_days=days).to_dict(), expected)
    source.close()
    # the selections are grouped by interaction once; the power period re-reads only the straddlers' slice
    reading = [sql for sql in statements if "FROM selections" in sql]
    scans = [sql for sql in reading if sql.startswith("CREATE TEMPORARY TABLE abkit_scan") and "pre_period" not in sql]
    assert len(scans) == 1  # PostgreSQL: three hashed GROUP BY in one statement; DuckDB: GROUPING SETS
    (slice_,) = [sql for sql in reading if "straddling_part" in sql]
    assert "selections.created_at <=" in slice_ and "selections.created_at >=" in slice_
    # the pre-period covariate is materialised once for the grain and the power groups
    assert sum("pre_period" in sql for sql in reading) == 1


@pytest.mark.parametrize("engine", ["duckdb", "parquet"])
def test_one_scan_gives_the_per_family_report_on_a_window_of_one_experiment(frames, tmp_path, engine):
    window = {**WINDOW, "experiment": "v2-challenger"}
    sqlite_url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    write_events(sqlite_url, frames).close()
    expected = build_report(sqlite_url, now=NOW, **window).to_dict()
    if engine == "duckdb":
        source: str = f"duckdb:///{tmp_path / 'events.duckdb'}"
        write_events(source, frames).close()
    else:
        from tests.test_report_backends import export

        export(frames, tmp_path / "export")
        source = str(tmp_path / "export")
    assert_same(build_report(source, now=NOW, **window).to_dict(), expected)


def test_sums_stay_exact_for_interactions_far_from_zero(tmp_path):
    # Interactions of three selections at 13 s +- 1e-4 beside a stray 86,390 s: each arm's figures
    # from per-interaction means and M2 moved to the arm's shift, against numpy on the raw values.
    rng = np.random.default_rng(3)
    rows, values = [_selection(0, 0, "holdout", 86_390.0)], {"v4": [], "v5": []}
    for interaction in range(1, 201):
        arm = "v4" if interaction % 2 else "v5"
        for _ in range(3):
            seconds = float({"v4": 13.0, "v5": 12.0}[arm] + rng.normal(0, 1e-4))
            rows.append(_selection(len(rows), interaction, arm, seconds))
            values[arm].append(seconds)
    reports = {}
    for name in ("sqlite", "duckdb"):
        url = f"{name}:///{tmp_path / f'far.{name}'}"
        store = EventStore.open(url)
        store.register_experiment("v5-challenger", "v5", [("holdout", 0.02), ("v4", 0.49), ("v5", 0.49)], at=START)
        store.write("selection", rows)
        store.close()
        reports[name] = build_report(url, now=NOW).to_dict()
    (comparison,) = reports["duckdb"]["comparisons"]
    assert comparison["challenger_summary"]["sd_s"] == pytest.approx(np.std(values["v5"], ddof=1), rel=1e-9)
    assert comparison["delta_s"] == pytest.approx(np.mean(values["v5"]) - np.mean(values["v4"]), rel=1e-9)
    assert_same(reports["duckdb"], reports["sqlite"])


def test_an_empty_window_gives_an_empty_report(frames, tmp_path):
    url = f"duckdb:///{tmp_path / 'events.duckdb'}"
    write_events(url, frames).close()
    report = build_report(url, now=NOW, since=datetime(2030, 1, 1)).to_dict()
    assert report["totals"] == {"selections": 0, "predictions": 0, "cases": 0}
    assert report["versions"] == [] and report["comparisons"] == []


def test_a_scan_answers_only_for_its_own_window(frames, tmp_path):
    url = f"duckdb:///{tmp_path / 'events.duckdb'}"
    write_events(url, frames).close()
    source = SqlSource(url)
    with source.scan(Window()) as scanned, pytest.raises(ValueError, match="this scan covers"):
        scanned.bounds(Window(experiment="standing"))
    source.close()


@pytest.mark.parametrize("dialect", [postgresql.dialect(), TrinoDialect(), SparkDialect()], ids=lambda d: d.name)
def test_scan_queries_compile_for_other_dialects(dialect):
    window = Window("standing", datetime(2026, 1, 1), datetime(2026, 2, 1))
    plan = Plan(((("standing", "v1", "v1"), 12.5),), (), "day")
    reduced = reduced_table("abkit_scan_test").c
    scan = str(selection_groups_query(window).compile(dialect=dialect))
    assert "GROUPING SETS" in scan and "var_pop" in scan
    for query in (
        bounds_from(reduced),
        template_groups_from(reduced, plan),
        bucket_groups_from(reduced, plan),
        arm_cases_query(interactions_from(reduced, plan), plan, window_cases_table("abkit_scan_test_cases")),
    ):
        assert "abkit_scan_test" in str(query.compile(dialect=dialect))
    materialize = str(MaterializeAs("abkit_scan_test", selection_groups_query(window)).compile(dialect=dialect))
    drop = str(DropMaterialized("abkit_scan_test").compile(dialect=dialect))
    if dialect.name == "spark":
        assert materialize.startswith("CACHE TABLE") and drop.startswith("DROP VIEW")
    else:
        assert materialize.startswith("CREATE TEMPORARY TABLE") and drop.startswith("DROP TABLE")


@pytest.mark.parametrize("dialect", [postgresql.dialect(), DuckDBDialect(), SparkDialect()], ids=lambda d: d.name)
def test_the_daily_prediction_counts_hold_no_percentile_aggregate(dialect):
    # PostgreSQL cannot hash a group that holds an ordered-set aggregate, even one over a NULL:
    # the day branch would sort every prediction to count them (bench_report_forms.py --forms predictions).
    days, latency = str(prediction_families_query(Window()).compile(dialect=dialect)).split("UNION ALL")
    percentile = "percentile(" if dialect.name == "spark" else "percentile_cont("
    assert percentile not in days and "max(" not in days
    assert percentile in latency and "max(" in latency


@pytest.mark.postgres
def test_a_read_only_postgres_session_gets_the_same_report_without_a_temporary_table(frames, postgres_url):
    write_events(postgres_url, frames).close()
    expected = build_report(postgres_url, now=NOW, **WINDOW).to_dict()
    engine = connect(postgres_url, read_only=True)  # CREATE TEMPORARY TABLE is refused (SQLSTATE 25006)
    source = SqlSource(engine)
    assert_same(build_report(source, now=NOW, **WINDOW).to_dict(), expected)
    assert not source.one_scan  # it fell back to one query per family
    engine.dispose()


@pytest.mark.postgres
def test_a_postgres_report_hashes_under_its_own_settings_and_leaves_pooled_connections_as_they_were(postgres_url):
    source = SqlSource(postgres_url)
    settings = "SELECT current_setting('work_mem'), current_setting('enable_sort')"
    with source._connection() as conn:
        assert tuple(conn.exec_driver_sql(settings).one()) == (POSTGRES_WORK_MEM, "off")
    with source.engine.connect() as conn:  # the same pooled connection, after the report's transaction
        assert tuple(conn.exec_driver_sql(settings).one()) == ("4MB", "on")  # PostgreSQL's defaults
    source.close()


@pytest.mark.postgres
def test_a_postgres_store_keeps_statistics_on_the_hour_the_report_groups_the_selections_by(postgres_url, frames):
    # The schema's CREATE STATISTICS takes effect only if it spells the expression as the report
    # compiles it. With it, ANALYZE (which reads every row of so small a table) gives the planner
    # the true number of hours; without it, created_at's distinct values, one per selection here
    # (281 selections in 107 hours).
    write_events(postgres_url, frames).close()
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE selections")
        grouped = select(hour_of(selections.c.created_at)).group_by(hour_of(selections.c.created_at))
        sql = str(grouped.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        estimated = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()[0]["Plan"]["Plan Rows"]
        groups = len(conn.execute(grouped).all())
        rows = conn.execute(select(func.count()).select_from(selections)).scalar_one()
    engine.dispose()
    assert groups < rows / 2  # the data can tell the two estimates apart
    assert estimated == pytest.approx(groups, rel=0.05)
