"""The DDL files in sql/ are generated from abkit/events/schema.py and must stay current."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from abkit.events.ddl import DIALECTS, main, render_ddl
from abkit.events.schema import EXPRESSION_STATISTICS, metadata

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_sql_files_match_the_schema(dialect):
    path = SQL_DIR / f"schema_{dialect}.sql"
    assert path.read_text() == render_ddl(dialect), (
        f"{path} is out of date with abkit/events/schema.py; run `python -m abkit.events.ddl sql`"
    )


def test_main_writes_one_file_per_dialect(tmp_path):
    main(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"schema_{d}.sql" for d in sorted(DIALECTS)]


def test_rendered_ddl_names_every_table_and_index():
    ddl = render_ddl("postgresql")
    for table in metadata.sorted_tables:
        assert f"CREATE TABLE {table.name} (" in ddl
        for index in table.indexes:
            assert f"CREATE INDEX {index.name} " in ddl
    assert "CREATE SEQUENCE rejects_reject_id_seq;" in ddl


def test_sqlite_file_builds_the_same_tables_as_the_code(tmp_path):
    database = tmp_path / "from_file.sqlite"
    with sqlite3.connect(database) as conn:
        conn.executescript((SQL_DIR / "schema_sqlite.sql").read_text())
    engine = create_engine(f"sqlite:///{database}")
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(metadata.tables)
    for table in metadata.sorted_tables:
        assert [col["name"] for col in inspector.get_columns(table.name)] == [col.name for col in table.columns]


@pytest.mark.postgres
def test_postgresql_file_builds_the_same_tables_as_the_code(postgres_url):
    engine = create_engine(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql((SQL_DIR / "schema_postgresql.sql").read_text())
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == set(metadata.tables)
    for table in metadata.sorted_tables:
        assert [col["name"] for col in inspector.get_columns(table.name)] == [col.name for col in table.columns]
    with engine.connect() as conn:
        statistics = conn.exec_driver_sql("SELECT stxname FROM pg_statistic_ext").scalars().all()
    assert sorted(statistics) == sorted(name for name, _table, _expression in EXPRESSION_STATISTICS)
    engine.dispose()


@pytest.mark.postgres
def test_creating_the_tables_on_postgresql_creates_their_expression_statistics(postgres_url):
    engine = create_engine(postgres_url)
    metadata.create_all(engine)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT s.stxname, c.relname FROM pg_statistic_ext s JOIN pg_class c ON c.oid = s.stxrelid"
        ).all()
    engine.dispose()
    assert sorted(map(tuple, rows)) == sorted((name, table.name) for name, table, _e in EXPRESSION_STATISTICS)
