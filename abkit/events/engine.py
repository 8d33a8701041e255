"""Turning what a user types (a file path or a URL) into a SQLAlchemy engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def database_url(target: str | Path) -> str:
    """Return a SQLAlchemy URL for a URL or a plain file path (a path means SQLite).

    Raises:
        ValueError: when ``target`` is empty or not a URL SQLAlchemy understands.
    """
    text = str(target).strip()
    if not text:
        raise ValueError("database: empty path or URL")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser()}"
    try:
        make_url(text)
    except ArgumentError as error:
        raise ValueError(f"database: {text!r} is not a valid URL ({error})") from None
    return text


def require_duckdb() -> None:
    """Import duckdb_engine, the SQLAlchemy dialect of the duckdb extra.

    Without it SQLAlchemy says only that it "can't load plugin: sqlalchemy.dialects:duckdb";
    this raises ModuleNotFoundError naming the module instead, which the CLI turns into the
    one line that names the extra (abkit.cli.extras).
    """
    import duckdb_engine  # noqa: F401


def _enable_sqlite_wal(dbapi_connection, _record) -> None:
    # WAL lets the dashboard read while the service writes; NORMAL sync is durable in WAL mode
    # up to the last checkpoint and is what SQLite recommends with it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _readonly_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def connect(target: str | Path, *, read_only: bool = False, echo: bool = False) -> Engine:
    """Create an engine for ``target`` (SQLite file path, ``sqlite:///``, ``postgresql://``...).

    SQLite files are opened in WAL mode; ``read_only=True`` refuses writes (used by the
    dashboard) and does not create a missing file.
    """
    url = database_url(target)
    parsed = make_url(url)
    if parsed.get_backend_name() == "duckdb":
        require_duckdb()
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if read_only and database not in ("", ":memory:"):
            if not Path(database).exists():
                raise FileNotFoundError(f"database: no SQLite file at {database}")
            engine = create_engine(f"sqlite:///file:{Path(database).resolve()}?mode=ro&uri=true", echo=echo)
            event.listen(engine, "connect", _readonly_sqlite)
            return engine
        if database not in ("", ":memory:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo)
        event.listen(engine, "connect", _enable_sqlite_wal)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Prefer psycopg 3, which we install, over psycopg2, SQLAlchemy's default for this name.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    connect_args = {}
    if read_only and parsed.get_backend_name() == "postgresql":
        # Every transaction of the session is read-only: the server refuses writes.
        connect_args["options"] = "-c default_transaction_read_only=on"
    engine = create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)
    return engine
