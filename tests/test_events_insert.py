"""Bulk inserts below EventStore.write: driver-level rows, row counts, the lookup fallback."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from abkit.events import insert as insert_module
from abkit.events.engine import connect
from abkit.events.insert import insert_new_rows
from abkit.events.schema import cases, metadata


def _frame(ids: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "case_id": ids,
            "handle_time_s": [float(len(i)) for i in ids],
            "closed_at": pl.Series([datetime(2026, 1, 2, 3, 4, 5, 678901)] * len(ids), dtype=pl.Datetime("us")),
        }
    )


@pytest.fixture
def engine(tmp_path):
    engine = connect(tmp_path / "events.sqlite")
    metadata.create_all(engine)
    return engine


def test_sqlite_datetimes_are_stored_as_sqlalchemy_stores_them(engine):
    with engine.begin() as conn:
        conn.execute(
            insert(cases),
            [{"case_id": "by-sqlalchemy", "handle_time_s": 1.0, "closed_at": datetime(2026, 1, 2, 3, 4, 5, 678901)}],
        )
        insert_new_rows(conn, cases, "case_id", _frame(["by-driver"]))
        stored = dict(conn.execute(text("SELECT case_id, closed_at FROM cases")).all())
        typed = conn.execute(select(cases.c.closed_at).where(cases.c.case_id == "by-driver")).scalar_one()
    assert stored["by-driver"] == stored["by-sqlalchemy"] == "2026-01-02 03:04:05.678901"
    assert typed == datetime(2026, 1, 2, 3, 4, 5, 678901)


def test_row_count_excludes_ids_already_stored(engine, monkeypatch):
    monkeypatch.setattr(insert_module, "INSERT_CHUNK", 3)
    with engine.begin() as conn:
        assert insert_new_rows(conn, cases, "case_id", _frame([f"c{i}" for i in range(7)])) == 7
        assert insert_new_rows(conn, cases, "case_id", _frame([f"c{i}" for i in range(5, 12)])) == 5
        assert insert_new_rows(conn, cases, "case_id", _frame([])) == 0
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 12


def test_backends_without_on_conflict_look_ids_up_first(engine, monkeypatch):
    monkeypatch.setattr(insert_module, "_ON_CONFLICT_DIALECTS", ())
    with engine.begin() as conn:
        assert insert_new_rows(conn, cases, "case_id", _frame(["a", "b"])) == 2
        assert insert_new_rows(conn, cases, "case_id", _frame(["b", "c"])) == 1
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 3


def test_a_failed_chunk_rolls_back_the_whole_transaction(engine, monkeypatch):
    monkeypatch.setattr(insert_module, "INSERT_CHUNK", 2)
    frame = _frame(["a", "b", "c"]).with_columns(
        pl.when(pl.col("case_id") == "c").then(None).otherwise(pl.col("handle_time_s")).alias("handle_time_s")
    )
    with pytest.raises(IntegrityError, match="NOT NULL"), engine.begin() as conn:
        insert_new_rows(conn, cases, "case_id", frame)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar() == 0
