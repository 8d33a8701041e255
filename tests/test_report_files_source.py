"""Export directories as DuckDB views: naming patterns, types, absent tables, clear errors."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from sqlalchemy import text

from abkit.events.schema import metadata
from abkit.report.build import build_report
from abkit.report.files_source import REQUIRED_COLUMNS, FilesSource, files_engine
from tests.report_events import event_frames
from tests.test_report_backends import assert_same

NOW = datetime(2026, 2, 1)
TABLES = {"selection": "selections", "prediction": "predictions", "case": "cases"}


@pytest.fixture(scope="module")
def frames():
    return event_frames(seed=5, interactions=30)


def write(frames, directory, pattern="{t}.parquet"):
    directory.mkdir(parents=True, exist_ok=True)
    for kind, table in TABLES.items():
        path = directory / pattern.format(t=table)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            frames[kind].write_csv(path)
        else:
            frames[kind].write_parquet(path)


def test_absent_registry_tables_are_empty_views_with_the_store_columns(frames, tmp_path):
    write(frames, tmp_path / "export")
    engine = files_engine(tmp_path / "export")
    try:
        with engine.connect() as conn:
            for table in ("experiments", "experiment_phases", "model_versions"):
                result = conn.execute(text(f"SELECT * FROM {table}"))
                assert list(result.keys()) == [col.name for col in metadata.tables[table].c]
                assert result.all() == []
    finally:
        engine.dispose()
    document = build_report(tmp_path / "export", now=NOW).to_dict()
    assert document["versions"]
    assert all(version["srm_missing"].endswith(" not registered") for version in document["versions"])


def test_a_folder_of_parts_is_one_table(frames, tmp_path):
    write(frames, tmp_path / "one")
    parts = tmp_path / "parts"
    parts.mkdir()
    for kind, table in TABLES.items():
        frame = frames[kind]
        half = frame.height // 2
        (parts / table).mkdir()
        frame.head(half).write_parquet(parts / table / "part-0.parquet")
        frame.tail(frame.height - half).write_parquet(parts / table / "part-1.parquet")
    # Equal to 1e-9: the parts may be summed in another order.
    assert_same(build_report(parts, now=NOW).to_dict(), build_report(tmp_path / "one", now=NOW).to_dict())


def test_csv_fields_are_text_unless_the_store_says_otherwise(frames, tmp_path):
    zero_padded = dict(frames)
    zero_padded["selection"] = frames["selection"].with_columns(pl.lit("007").alias("advocate_id"))
    write(zero_padded, tmp_path / "csv", pattern="{t}.csv")
    engine = files_engine(tmp_path / "csv")
    try:
        with engine.connect() as conn:
            advocate, seconds, created = conn.execute(
                text("SELECT advocate_id, selection_time_s, created_at FROM selections LIMIT 1")
            ).one()
    finally:
        engine.dispose()
    assert advocate == "007"  # not guessed as the integer 7
    assert isinstance(seconds, float) and isinstance(created, datetime)


def test_missing_columns_are_named_with_the_file(frames, tmp_path):
    write(frames, tmp_path / "csv", pattern="{t}.csv")
    frames["case"].drop("handle_time_s").write_csv(tmp_path / "csv" / "cases.csv")
    with pytest.raises(ValueError, match=r"cases\.csv: missing columns \['handle_time_s'\] for table cases"):
        FilesSource(tmp_path / "csv")


def test_registry_tables_need_only_the_columns_the_report_reads(frames, tmp_path):
    write(frames, tmp_path / "export")
    pl.DataFrame({"model_version": ["v1"], "released_at": [datetime(2025, 12, 1)]}).write_parquet(
        tmp_path / "export" / "model_versions.parquet"
    )
    source = FilesSource(tmp_path / "export")
    try:
        assert source.releases() == {"v1": datetime(2025, 12, 1)}
    finally:
        source.close()
    assert set(REQUIRED_COLUMNS["model_versions"]) == {"model_version", "released_at"}
