"""sql/reference_*.sql: current with the code, and runnable as pasted (SQLite, DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from abkit.report.reference import dialects, render_reference
from tests.report_events import event_frames, write_events

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@pytest.mark.parametrize("dialect", sorted(dialects()))
def test_reference_files_are_current(dialect):
    path = SQL_DIR / f"reference_{dialect}.sql"
    assert path.read_text() == render_reference(dialect), f"{path} is stale: run `python -m abkit.report.reference`"


def statements(dialect: str) -> list[str]:
    body = (SQL_DIR / f"reference_{dialect}.sql").read_text()
    return [s.strip() for s in body.split(";\n") if s.strip()]


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_reference_queries_run_as_pasted(dialect, tmp_path):
    url = f"{dialect}:///{tmp_path / 'events.db'}"
    frames = event_frames(interactions=30)
    write_events(url, frames)
    queries = statements(dialect)
    assert len(queries) == 12
    engine = create_engine(url)
    with engine.connect() as conn:
        results = [conn.execute(text(query)).all() for query in queries]
    assert sum(row[3] for row in results[0]) == frames["selection"].height  # bounds: n per arm
    assert sum(row[4] for row in results[1]) == frames["selection"].height  # arm family: n per arm and phase
    assert sum(row[4] for row in results[5]) == frames["selection"].height  # day family
    # interaction and covariate sums per day (no history before the example start: every x is 0): k, n
    assert sum(row[5] for row in results[10]) == len(frames["selection"].unique(["advocate_id", "case_id"]))
    assert sum(row[6] for row in results[10]) == frames["selection"].height
    # and the guardrail's cases
    arm_cases = frames["selection"].unique(["experiment", "model_version", "arm", "case_id"]).height
    assert sum(row[4] for row in results[11]) == arm_cases
