"""Shared fixtures: a real PostgreSQL server per test session, fresh databases per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Admin URL of a PostgreSQL server started for this test session."""
    # Imported here, so that a core install without the postgres extra still runs the other tests.
    from tests.pg_server import running_postgres

    with running_postgres() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """URL of a new, empty database on the session's server."""
    from tests.pg_server import create_database

    return create_database(postgres_server, f"abkit_test_{next(_database_numbers)}")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a new SQLite file."""
    return f"sqlite:///{tmp_path / 'events.sqlite'}"


@pytest.fixture(autouse=True)
def _reports_follow_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every report a test builds is checked against docs/report.schema.json (by jsonschema)."""
    from abkit.report import build
    from tests.report_schema import assert_valid_report

    compute = build._report

    def validated(*args, **kwargs):
        report = compute(*args, **kwargs)
        assert_valid_report(report.to_dict())
        return report

    monkeypatch.setattr(build, "_report", validated)
