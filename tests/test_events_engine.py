"""Turning what a user types into an engine: paths, URLs, WAL mode, read-only access."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from abkit.events.engine import connect, database_url


def test_database_url_for_paths_and_urls(tmp_path):
    assert database_url(tmp_path / "x.sqlite") == f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert database_url("  sqlite:///a.db ") == "sqlite:///a.db"
    assert database_url("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("target", "message"), [("", "empty path or URL"), ("   ", "empty"), ("://nothing", "not a valid URL")]
)
def test_database_url_refuses(target, message):
    with pytest.raises(ValueError, match=message):
        database_url(target)


def test_sqlite_file_uses_wal_and_creates_parent_directories(tmp_path):
    engine = connect(tmp_path / "deep" / "er" / "events.sqlite")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert (tmp_path / "deep" / "er").is_dir()


def test_read_only_refuses_writes_and_missing_files(tmp_path):
    path = tmp_path / "events.sqlite"
    with connect(path).begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    reader = connect(path, read_only=True)
    with reader.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
        with pytest.raises(OperationalError):
            conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(FileNotFoundError, match="no SQLite file"):
        connect(tmp_path / "missing.sqlite", read_only=True)


def test_postgresql_urls_use_psycopg_3():
    pytest.importorskip("psycopg")  # the postgres extra; absent from the core-only lowest-versions venv
    engine = connect("postgresql://user:secret@127.0.0.1:1/db")
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.url.password == "secret"
    assert connect("postgresql+psycopg://u@h/db").url.drivername == "postgresql+psycopg"


def test_duckdb_url(tmp_path):
    engine = connect(f"duckdb:///{tmp_path / 'x.duckdb'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 41 + 1")).scalar() == 42
