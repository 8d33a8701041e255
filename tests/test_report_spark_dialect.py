"""Spark SQL compilation and the DB-API shim, without a Spark session (fast)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from abkit.events.schema import selections
from abkit.report import queries
from abkit.report.dialects import day_of, percentiles, week_start
from abkit.report.groups import Window
from abkit.report.spark_dialect import DatabaseError, SparkDialect, spark_literal
from abkit.report.spark_source import spark_engine
from tests.test_report_backends import _all_queries


def test_literals_keep_their_spark_types():
    assert spark_literal(12.5) == "12.5D"  # a bare 12.5 would be a DECIMAL
    assert spark_literal(0.1 + 0.2) == "0.30000000000000004D"  # every bit of the double
    assert spark_literal(float("nan")) == "CAST('nan' AS DOUBLE)"
    assert spark_literal(3) == "3" and spark_literal(True) == "TRUE" and spark_literal(None) == "NULL"
    assert spark_literal("it's a \\ test") == "'it\\'s a \\\\ test'"
    assert spark_literal(datetime(2026, 1, 6, 10, 0, 0, 5)) == "TIMESTAMP_NTZ '2026-01-06 10:00:00.000005'"
    assert spark_literal(date(2026, 1, 6)) == "DATE '2026-01-06'"
    with pytest.raises(TypeError, match="naive UTC"):
        spark_literal(datetime(2026, 1, 6, tzinfo=UTC))
    with pytest.raises(TypeError, match="no literal for bytes"):
        spark_literal(b"x")


def test_every_report_query_compiles_for_spark():
    window = Window("standing", datetime(2026, 1, 1), datetime(2026, 2, 1))
    statements = list(_all_queries(window))
    for statement in statements:
        sql = str(statement.compile(dialect=SparkDialect()))
        assert sql.startswith(("SELECT", "WITH")) and '"' not in sql  # identifiers quote with backquotes
    column = selections.c.created_at
    buckets = str(select(week_start(column), day_of(column)).compile(dialect=SparkDialect()))
    assert "CAST(date_trunc('week', selections.created_at) AS DATE) AS week_start_1" in buckets
    assert "CAST(selections.created_at AS DATE) AS day_of_1" in buckets
    latency = str(select(percentiles(selections.c.selection_time_s, (0.5, 0.99))).compile(dialect=SparkDialect()))
    assert "percentile(selections.selection_time_s, array(0.5D, 0.99D))" in latency


def test_literal_binds_spell_values_as_the_driver_does():
    statement = select(selections.c.selection_time_s - 15.0).where(
        selections.c.experiment == "it's", selections.c.created_at >= datetime(2026, 1, 1)
    )
    sql = str(statement.compile(dialect=SparkDialect(), compile_kwargs={"literal_binds": True}))
    assert "- 15.0D" in sql and "= 'it\\'s'" in sql and ">= TIMESTAMP_NTZ '2026-01-01 00:00:00'" in sql


class RecordingSession:
    """Stands in for a SparkSession: records the SQL it is given and answers one row."""

    def __init__(self, fail: bool = False):
        self.statements: list[str] = []
        self.fail = fail

    def sql(self, statement: str):
        self.statements.append(statement)
        if self.fail:
            raise RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] The table `selections` cannot be found.")
        return self

    columns = ["n", "first"]

    def collect(self):
        return [(3, datetime(2026, 1, 6))]


def test_bound_values_reach_spark_as_literals():
    session = RecordingSession()
    engine = spark_engine(session)
    with engine.connect() as conn:
        statement = queries.bounds_query(Window("v4 'quoted'", datetime(2026, 1, 6), None))
        assert conn.execute(statement).all() == [(3, datetime(2026, 1, 6))]
        conn.execute(text("SELECT 100 % 7, :x"), {"x": 1.5})
    bounds_sql, modulo_sql = session.statements[-2:]
    assert "= 'v4 \\'quoted\\''" in bounds_sql and ">= TIMESTAMP_NTZ '2026-01-06 00:00:00'" in bounds_sql
    assert "GROUP BY" in bounds_sql and "%(" not in bounds_sql
    assert modulo_sql == "SELECT 100 % 7, 1.5D"  # a literal % survives the substitution


def test_spark_errors_keep_spark_s_message():
    engine = spark_engine(RecordingSession(fail=True))
    with engine.connect() as conn, pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND") as raised:
        conn.execute(text("SELECT 1"))
    assert isinstance(raised.value.orig, DatabaseError)  # type: ignore[attr-defined]
