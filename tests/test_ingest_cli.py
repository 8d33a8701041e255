"""`abkit ingest` through click's CliRunner: counts printed, exit code 2 and one line for wrong files."""

from __future__ import annotations

import random
import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from abkit.cli.main import cli
from abkit.events import EventStore
from abkit.events.schema import cases, rejects

CASES = "case_id,handle_time_s,closed_at,comment\nc1,300,2026-01-05T10:00:00\nc2,-1,2026-01-05T10:00:00,x\nc3,200,2026-01-05T10:00:00,y\nc4,250,2026-01-05T11:00:00,\n"


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["ingest", *args])


def _counts(db: str) -> tuple[int, int]:
    store = EventStore.open(db)
    with store.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(cases)).scalar_one(),
            conn.execute(select(func.count()).select_from(rejects)).scalar_one(),
        )


def test_ingest_prints_counts_that_add_up(tmp_path):
    data = tmp_path / "cases.csv"
    data.write_text(CASES)
    db = str(tmp_path / "events.sqlite")
    result = _run("--db", db, str(data))
    assert result.exit_code == 0, result.output
    assert f"{data}: case, 4 rows read: 2 accepted, 0 duplicate, 0 conflicting, 2 rejected" in result.stdout
    assert "rejected 1: handle_time_s: out of range [0, 2.592e+06]" in result.stdout
    assert "rejected 1: row: expected 4 fields, found 3" in result.stdout
    assert "column 'comment' is not a case column; ignored" in result.stderr
    again = _run("--db", db, "--kind", "case", str(data), str(data))
    assert again.exit_code == 0, again.output
    assert "4 rows read: 0 accepted, 2 duplicate, 0 conflicting, 2 rejected" in again.stdout
    assert "total: 8 rows read: 0 accepted, 4 duplicate, 0 conflicting, 4 rejected" in again.stdout
    assert _counts(db) == (2, 2)


def test_wrong_file_exits_2_with_one_line_and_writes_nothing(tmp_path):
    good = tmp_path / "cases.csv"
    good.write_text(CASES)
    png = tmp_path / "picture.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    db = str(tmp_path / "events.sqlite")
    result = _run("--db", db, str(good), str(png))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {png}: this is a PNG image, not CSV"
    assert result.stdout == ""
    assert not (tmp_path / "events.sqlite").exists()


def test_wrong_columns_and_missing_file_exit_2(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    db = str(tmp_path / "events.sqlite")
    for path, message in ((wrong, "match no event kind"), (tmp_path / "nope.csv", "no such file")):
        result = _run("--db", db, str(path))
        assert result.exit_code == 2
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unopenable_database_exits_2(tmp_path):
    data = tmp_path / "cases.csv"
    data.write_text(CASES)
    result = _run("--db", "nosuchdialect://x/y", str(data))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --db nosuchdialect://x/y: cannot open the database")
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_and_usage(tmp_path):
    assert "CSV, JSON Lines or Parquet" in _run("--help").stdout
    assert _run("--db", str(tmp_path / "x.sqlite")).exit_code == 2  # no FILES: click usage error


@pytest.mark.parametrize("name", ["junk.csv", "junk.jsonl", "junk.parquet"])
def test_binary_junk_exits_2_with_one_line(tmp_path, name):
    junk = tmp_path / name
    junk.write_bytes(random.Random(7).randbytes(4096))
    result = _run("--db", str(tmp_path / "events.sqlite"), str(junk))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {junk}: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "events.sqlite").exists()


def test_text_without_the_right_columns_exits_2(tmp_path):
    prose = tmp_path / "notes.jsonl"
    prose.write_text('{"hello": "world"}\n')
    result = _run("--db", str(tmp_path / "events.sqlite"), str(prose))
    assert result.exit_code == 2
    assert "columns (hello) match no event kind" in result.stderr


@pytest.mark.parametrize("plan_records", [1, 10_000])
def test_jsonl_key_first_seen_in_a_later_record_gets_the_unknown_column_notice(tmp_path, monkeypatch, plan_records):
    # Seen by the plan (before the load) or only by the load, the notice is the same, once.
    monkeypatch.setattr("abkit.ingest.jsonl.JSONL_PLAN_RECORDS", plan_records)
    data = tmp_path / "cases.jsonl"
    data.write_text(
        '{"case_id": "c1", "handle_time_s": 1, "closed_at": "2026-01-05"}\n'
        '{"case_id": "c2", "handle_time_s": 2, "closed_at": "2026-01-05", "comment": "x"}\n'
    )
    result = _run("--db", str(tmp_path / "events.sqlite"), "--chunk-rows", "1", str(data))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("column 'comment' is not a case column; ignored") == 1
    assert "2 rows read: 2 accepted" in result.stdout


def test_database_error_mid_run_is_one_line_and_exit_1(tmp_path):
    data = tmp_path / "cases.csv"
    data.write_text(CASES)
    db = tmp_path / "events.sqlite"
    assert _run("--db", str(db), str(data)).exit_code == 0
    with sqlite3.connect(db) as conn:  # a table the store does not expect: inserts fail
        conn.execute("DROP TABLE cases")
        conn.execute("CREATE TABLE cases (case_id TEXT PRIMARY KEY, other TEXT)")
    result = _run("--db", str(db), str(data))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {data}: database error (")
    assert errors[0].endswith("run again to finish")


def _selections_table(n: int):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.table(
        {
            "selection_id": [f"s{i}" for i in range(n)],
            "case_id": [f"c{i}" for i in range(n)],
            "message_id": [f"m{i}" for i in range(n)],
            "advocate_id": [f"a{i % 7}" for i in range(n)],
            "experiment": ["standing"] * n,
            "arm": ["v4"] * n,
            "model_version": ["v4"] * n,
            "template_id": [f"t{i % 13}" for i in range(n)],
            "selection_time_s": [float(i % 50) for i in range(n)],
            "created_at": ["2026-01-05T10:00:00"] * n,
        }
    )


def _corrupt_column_chunk(path, row_group: int, column: str) -> None:  # type: ignore[no-untyped-def]
    """Overwrite the middle of one column chunk's compressed pages with junk."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata.row_group(row_group)
    chunk = next(metadata.column(j) for j in range(metadata.num_columns) if metadata.column(j).path_in_schema == column)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset + chunk.total_compressed_size // 4
    for offset in range(start, start + chunk.total_compressed_size // 2):
        data[offset] ^= 0xA5
    path.write_bytes(bytes(data))


def test_a_corrupt_middle_row_group_is_one_line_exit_2_and_nothing_written(tmp_path):
    import pyarrow.parquet as pq

    data = tmp_path / "selections.parquet"
    pq.write_table(_selections_table(30_000), data, row_group_size=10_000)
    _corrupt_column_chunk(data, 1, "case_id")
    db = tmp_path / "events.sqlite"
    # Chunks smaller than a row group: without the check, the first 10,000 rows would commit.
    result = _run("--db", str(db), "--chunk-rows", "4000", str(data))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {data}: corrupt Parquet row group 2 of 3 (rows 10001-20000): ")
    assert not db.exists()  # the database is not even opened


def test_a_page_checksum_catches_corruption_that_would_still_decode(tmp_path):
    import pyarrow.parquet as pq

    data = tmp_path / "selections.parquet"
    # Uncompressed and plain-encoded, so flipped float bytes still decode, as other numbers.
    pq.write_table(
        _selections_table(300),
        data,
        row_group_size=100,
        compression="none",
        use_dictionary=False,
        write_page_checksum=True,
    )
    _corrupt_column_chunk(data, 1, "selection_time_s")
    result = _run("--db", str(tmp_path / "events.sqlite"), str(data))
    assert result.exit_code == 2, result.output
    assert "corrupt Parquet row group 2 of 3 (rows 101-200)" in result.stderr
    assert "CRC" in result.stderr or "checksum" in result.stderr.lower()


def test_strict_turns_rejected_rows_into_exit_3_after_storing_the_good_ones(tmp_path):
    data = tmp_path / "cases.csv"
    data.write_text(CASES)
    db = str(tmp_path / "events.sqlite")
    result = _run("--db", db, "--strict", str(data))
    assert result.exit_code == 3, result.output
    assert "4 rows read: 2 accepted, 0 duplicate, 0 conflicting, 2 rejected" in result.stdout
    assert (
        result.stderr.strip().splitlines()[-1]
        == "error: 2 rows rejected, 0 conflicting (--strict); see the rejects table"
    )
    assert _counts(db) == (2, 2)
    clean = tmp_path / "clean.csv"
    clean.write_text("case_id,handle_time_s,closed_at\nc9,10,2026-01-05T10:00:00\n")
    assert _run("--db", db, "--fail-on-reject", str(clean)).exit_code == 0


def test_a_conflicting_row_is_counted_apart_filed_in_rejects_and_never_overwrites(tmp_path):
    db = str(tmp_path / "events.sqlite")
    first = tmp_path / "first.csv"
    first.write_text("case_id,handle_time_s,closed_at\nc1,300,2026-01-05T10:00:00\nc2,200,2026-01-05T10:00:00\n")
    assert _run("--db", db, str(first)).exit_code == 0
    # c1 again as it was (a true duplicate), c2 with another handle time (a conflict), c3 new,
    # and c3 repeated in the same file with another handle time (a conflict within the file).
    second = tmp_path / "second.csv"
    second.write_text(
        "case_id,handle_time_s,closed_at\n"
        "c1,300,2026-01-05T10:00:00\nc2,999,2026-01-05T10:00:00\nc3,50,2026-01-05T10:00:00\nc3,51,2026-01-05T10:00:00\n"
    )
    result = _run("--db", db, str(second))
    assert result.exit_code == 0, result.output
    assert f"{second}: case, 4 rows read: 1 accepted, 1 duplicate, 2 conflicting, 0 rejected" in result.stdout
    assert "conflicting 2: case_id stored already with other content" in result.stdout
    store = EventStore.open(db)
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(cases.c.case_id, cases.c.handle_time_s)).all())
        filed = conn.execute(select(rejects.c.row_number, rejects.c.field, rejects.c.reason, rejects.c.raw)).all()
    assert stored == {"c1": 300.0, "c2": 200.0, "c3": 50.0}  # the first of each id is kept
    assert [(row, fld, raw) for row, fld, _, raw in filed] == [
        (3, "case_id", "c2,999,2026-01-05T10:00:00"),
        (5, "case_id", "c3,51,2026-01-05T10:00:00"),
    ]
    assert all("differs in handle_time_s" in reason for _, _, reason, _ in filed)
    strict = _run("--db", db, "--strict", str(second))
    assert strict.exit_code == 3
    assert "0 rows rejected, 2 conflicting (--strict)" in strict.stderr
