"""The report on Apache Spark (local mode) equals SQLite's on the same events, to a relative 1e-9.

One local session serves the whole module (starting the JVM is most of the cost); the data are
tiny. Needs pyspark and a Java 17+ runtime (`make test` installs both).
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.report.build import build_report
from abkit.report.snapshots import latest_snapshot
from abkit.report.spark_source import SparkSource, create_views, spark_session
from tests.report_events import event_frames, write_events
from tests.test_report_backends import NOW, WINDOW, assert_same, export

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    settings = {
        "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark-warehouse")),
        # A short-lived JVM on tiny data: the quick JIT tier alone and one GC thread start work sooner.
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    }
    spark, started = spark_session("local[2]", app_name="abkit-tests", config=settings)
    # Not UTC: the views must convert instants to UTC whatever zone the session had.
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    yield spark
    if started:
        spark.stop()


@pytest.fixture(scope="module")
def frames():
    return event_frames(seed=11, interactions=90)


@pytest.fixture(scope="module")
def sqlite_report(frames, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'events.sqlite'}"
    write_events(url, frames)
    return build_report(url, now=NOW, **WINDOW).to_dict()


def test_spark_gives_the_sqlite_report(session, frames, sqlite_report, tmp_path):
    export(frames, tmp_path / "export")
    source = SparkSource(tmp_path / "export", session=session)
    document = build_report(source, now=NOW, **WINDOW).to_dict()
    assert_same(document, sqlite_report)  # every figure, and every null with the same reason
    assert source.engine.dialect.name == "spark"
    assert not session.sparkContext._jsc.sc().isStopped()  # a given session is left running


def test_cli_runs_on_spark_from_csv_with_offsets_and_stores_the_snapshot(session, frames, sqlite_report, tmp_path):
    aware = dict(frames)
    for kind in ("selection", "prediction"):
        column = pl.col("created_at").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Kolkata")
        aware[kind] = frames[kind].with_columns(column)
    export(aware, tmp_path / "export", csv=True)
    snapshots = tmp_path / "snapshots.sqlite"
    since, until = (WINDOW[key].strftime("%Y-%m-%d") for key in ("since", "until"))
    args = ["report", "--spark", "local[2]", "--tables", str(tmp_path / "export"), "--db", str(snapshots)]
    args += ["--since", since, "--until", until, "--format", "json", "--store"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    stored = latest_snapshot(f"sqlite:///{snapshots}")
    assert stored is not None and stored[1] == document
    document["generated_at"] = sqlite_report["generated_at"]
    assert_same(document, sqlite_report)


def test_catalog_tables_become_views(session, frames, tmp_path):
    export(frames, tmp_path / "export")
    session.sql("CREATE DATABASE IF NOT EXISTS abkit_catalog_test")
    for table in ("selections", "cases"):  # no predictions table: an empty view
        location = tmp_path / "export" / f"{table}.parquet"
        session.sql(f"CREATE TABLE abkit_catalog_test.{table} USING parquet LOCATION '{location}'")
    create_views(session, "abkit_catalog_test")
    assert session.sql("SELECT count(*) FROM selections").first()[0] == frames["selection"].height
    assert session.sql("SELECT count(*) FROM predictions").first()[0] == 0
    types = dict(session.table("selections").dtypes)
    assert types["created_at"] == "timestamp_ntz" and types["selection_time_s"] == "double"


def test_missing_columns_and_tables_are_named(session, frames, tmp_path):
    export(frames, tmp_path / "export")
    frames["case"].drop("handle_time_s").write_parquet(tmp_path / "export" / "cases.parquet")
    with pytest.raises(ValueError, match=r"cases\.parquet: missing columns \['handle_time_s'\] for table cases"):
        SparkSource(tmp_path / "export", session=session)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no selections, predictions or cases"):
        SparkSource(tmp_path / "empty", session=session)
    result = CliRunner().invoke(cli, ["report", "--spark", "local[2]"], catch_exceptions=False)
    assert result.exit_code == 2 and "--spark and --tables go together" in result.output
