"""Readers: headers, row numbers, raw text and chunking of CSV, JSON Lines and Parquet."""

from __future__ import annotations

import json

import polars as pl
import pytest

from abkit.ingest.detect import IngestError
from abkit.ingest.readers import count_rows, read_chunks, read_columns

WANTED = ("case_id", "handle_time_s", "closed_at")


def test_csv_header_strips_bom_and_spaces(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_bytes("\ufeffcase_id, handle_time_s ,closed_at\r\nc1,1,2026-01-01\r\n".encode())
    assert read_columns(path, "csv") == list(WANTED)
    (chunk,) = read_chunks(path, "csv", WANTED, 10)
    assert chunk.frame.to_dicts() == [{"case_id": "c1", "handle_time_s": "1", "closed_at": "2026-01-01"}]


def test_csv_quoted_newline_keeps_line_numbers_of_record_starts(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text('case_id,handle_time_s,closed_at\n"c\n1",1,2026-01-01\nc2,2,2026-01-01\n')
    (chunk,) = read_chunks(path, "csv", WANTED, 10)
    assert chunk.row_numbers == [2, 4]
    assert chunk.frame["case_id"].to_list() == ["c\n1", "c2"]
    assert chunk.raw[0] == '"c\n1",1,2026-01-01'
    assert count_rows(path, "csv") == 3  # newline count: an estimate for the progress bar


def test_csv_columns_in_any_order_and_missing_optional(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("closed_at,extra,case_id,handle_time_s\n2026-01-01,x,c1,5\n")
    (chunk,) = read_chunks(path, "csv", WANTED, 10)
    assert chunk.frame.columns == list(WANTED)
    assert chunk.frame.row(0) == ("c1", "5", "2026-01-01")


def test_csv_chunks_split_at_chunk_rows(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("case_id,handle_time_s,closed_at\n" + "".join(f"c{i},{i},2026-01-01\n" for i in range(7)))
    chunks = list(read_chunks(path, "csv", WANTED, 3))
    assert [chunk.rows_read for chunk in chunks] == [3, 3, 1]
    assert chunks[2].row_numbers == [8]
    with pytest.raises(ValueError, match="chunk_rows"):
        list(read_chunks(path, "csv", WANTED, 0))


def test_csv_without_header(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\n")
    with pytest.raises(IngestError, match="no CSV header line"):
        read_columns(path, "csv")


def test_jsonl_header_and_values_as_text(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('\n{"case_id": "c1", "handle_time_s": 1.5, "closed_at": "2026-01-01"}\n{"case_id": 7}\n')
    assert read_columns(path, "jsonl") == list(WANTED)
    (chunk,) = read_chunks(path, "jsonl", WANTED, 10)
    assert chunk.row_numbers == [2, 3]
    assert chunk.frame.to_dicts()[1] == {"case_id": "7", "handle_time_s": None, "closed_at": None}
    assert chunk.frame["handle_time_s"][0] == "1.5"
    assert json.loads(chunk.raw[0])["case_id"] == "c1"


@pytest.mark.parametrize(
    ("content", "message"), [("[1]\n", "not a JSON object"), ("{oops\n", "is not JSON"), ("\n\n", "no JSON object")]
)
def test_jsonl_first_record_must_be_an_object(tmp_path, content, message):
    path = tmp_path / "x.jsonl"
    path.write_text(content)
    with pytest.raises(IngestError, match=message):
        read_columns(path, "jsonl")


def test_jsonl_key_absent_in_a_whole_chunk_is_a_column_of_nulls(tmp_path):
    # A record names its own fields: a key it leaves out is a value not given (a required one is
    # then rejected as missing), whether or not other records of the chunk have it.
    path = tmp_path / "x.jsonl"
    path.write_text('{"case_id": "c1"}\n')
    (chunk,) = read_chunks(path, "jsonl", WANTED, 10)
    assert chunk.frame.to_dicts() == [{"case_id": "c1", "handle_time_s": None, "closed_at": None}]


def test_jsonl_columns_are_the_keys_of_all_records_in_first_seen_order(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"case_id": "c1"}\n{oops\n[1]\n\n{"closed_at": "x", "case_id": "c2"}\n{" note": 1}\n')
    assert read_columns(path, "jsonl") == ["case_id", "closed_at", " note"]  # keys as written, not trimmed


def test_jsonl_with_too_many_distinct_keys_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps({f"k{i}": 1, "case_id": "c"}) + "\n" for i in range(1_100)))
    with pytest.raises(IngestError, match="line 1000: more than 1,000 distinct keys"):
        read_columns(path, "jsonl")


def test_parquet_batches_and_row_numbers(tmp_path):
    path = tmp_path / "cases.parquet"
    pl.DataFrame({"case_id": [f"c{i}" for i in range(5)], "handle_time_s": [1.0] * 5, "other": [0] * 5}).write_parquet(
        path
    )
    assert read_columns(path, "parquet") == ["case_id", "handle_time_s", "other"]
    assert count_rows(path, "parquet") == 5
    chunks = list(read_chunks(path, "parquet", WANTED, 2))
    assert [chunk.row_numbers for chunk in chunks] == [[1, 2], [3, 4], [5]]
    assert chunks[0].frame.columns == ["case_id", "handle_time_s"]
    assert json.loads(chunks[1].raw[1]) == {"case_id": "c3", "handle_time_s": 1.0}


def test_truncated_parquet_is_refused(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 20)
    with pytest.raises(IngestError, match="broken.parquet: not a readable Parquet file"):
        read_columns(path, "parquet")


def test_csv_unterminated_quote_is_an_unreadable_row_not_a_field_holding_the_rest_of_the_file(tmp_path):
    # A quote opened on line 3 and never closed: a lenient reader would swallow lines 3-4 into
    # one case_id and store it; the row must be refused, naming the line where the quote opens.
    path = tmp_path / "cases.csv"
    path.write_text('case_id,handle_time_s,closed_at\nc1,1,2026-01-01\n"c2,2,2026-01-01\nc3,3,2026-01-01\n')
    (chunk,) = read_chunks(path, "csv", WANTED, 10)
    assert chunk.frame["case_id"].to_list() == ["c1"]
    (bad,) = chunk.unreadable
    assert bad.row_number == 3
    assert bad.field == "row"
    assert "quoted field" in bad.reason and "never closed" in bad.reason


def test_csv_text_after_a_closing_quote_is_an_unreadable_row_not_glued_on(tmp_path):
    # '"c1"x' is not CSV; a lenient reader would store the id c1x.
    path = tmp_path / "cases.csv"
    path.write_text('case_id,handle_time_s,closed_at\n"c1"x,1,2026-01-01\nc2,2,2026-01-01\n')
    (chunk,) = read_chunks(path, "csv", WANTED, 10)
    assert chunk.frame["case_id"].to_list() == ["c2"]
    assert chunk.row_numbers == [3]
    assert [row.row_number for row in chunk.unreadable] == [2]


def test_csv_header_with_a_quote_never_closed_is_refused_in_one_line(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text('"case_id,handle_time_s,closed_at\nc1,1,2026-01-01\n')
    with pytest.raises(IngestError, match="header line cannot be read .*never closed"):
        read_columns(path, "csv")


def test_jsonl_nested_too_deeply_is_refused_or_rejected_not_a_recursion_error(tmp_path):
    deep = '{"case_id": "c2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = tmp_path / "cases.jsonl"
    path.write_text('{"case_id": "c1", "handle_time_s": 1, "closed_at": "2026-01-01"}\n' + deep + "\n")
    (chunk,) = read_chunks(path, "jsonl", WANTED, 10)
    assert chunk.frame["case_id"].to_list() == ["c1"]
    (bad,) = chunk.unreadable
    assert (bad.row_number, bad.field) == (2, "row")
    assert bad.reason.startswith("not valid JSON: nested too deeply")
    first = tmp_path / "first.jsonl"
    first.write_text(deep + "\n")
    with pytest.raises(IngestError, match="line 1 is not JSON .nested too deeply"):
        read_columns(first, "jsonl")


@pytest.mark.parametrize(
    ("value", "what"),
    [("[1]", "array"), ('{"a": 1}', "object"), ("true", "boolean"), ("1.0", "float (1.0)")],
)
def test_jsonl_id_that_is_not_a_string_or_integer_is_rejected_naming_the_field(tmp_path, value, what):
    # Stored as text these would become the ids "[1]", '{"a": 1}', "true" and "1.0".
    path = tmp_path / "cases.jsonl"
    path.write_text(
        '{"case_id": 7, "handle_time_s": 1, "closed_at": "2026-01-01"}\n'
        f'{{"case_id": {value}, "handle_time_s": 1, "closed_at": "2026-01-01"}}\n'
    )
    (chunk,) = read_chunks(path, "jsonl", WANTED, 10)
    assert chunk.frame["case_id"].to_list() == ["7"]
    (bad,) = chunk.unreadable
    assert (bad.row_number, bad.field) == (2, "case_id")
    assert bad.reason == f"wrong type: a JSON {what}, where text is expected"


def test_jsonl_record_with_a_repeated_key_is_rejected_not_read_with_the_last_value(tmp_path):
    # json.loads keeps the last of two values of one key, so {"case_id": "c1", "case_id": "c9"}
    # would be stored as c9 with nothing said; the record is rejected, naming the key.
    path = tmp_path / "cases.jsonl"
    path.write_text(
        '{"case_id": "c1", "handle_time_s": 1, "closed_at": "2026-01-01", "case_id": "c9"}\n'
        '{"case_id": "c2", "handle_time_s": 2, "closed_at": "2026-01-01", "note": 1, "note": 2}\n'
        '{"case_id": "c3", "handle_time_s": 3, "closed_at": "2026-01-01", "x": {"a": 1, "a": 2}}\n'
    )
    (chunk,) = read_chunks(path, "jsonl", WANTED, 10)
    assert [(row.row_number, row.field, row.reason) for row in chunk.unreadable] == [
        (1, "case_id", "duplicate key 'case_id'"),
        (2, "row", "duplicate key 'note'"),
    ]
    # Only the record's own keys make its fields; an object nested in a value is not read.
    assert chunk.frame["case_id"].to_list() == ["c3"]
    assert chunk.unreadable[0].raw is not None and chunk.unreadable[0].raw.endswith('"case_id": "c9"}')
