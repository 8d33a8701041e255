"""Format and kind detection: wrong files are refused in one line before anything is read further."""

from __future__ import annotations

import pytest

from abkit.events import columns as c
from abkit.ingest.detect import REQUIRED_COLUMNS, IngestError, check_columns, detect_format, extra_columns, infer_kind


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", b"case_id,handle_time_s,closed_at\n", "csv"),
        ("a.CSV", b"x\n", "csv"),
        ("a.jsonl", b"{}\n", "jsonl"),
        ("a.ndjson", b"{}\n", "jsonl"),
        ("a.json", b"{}\n", "jsonl"),
        ("a.parquet", b"PAR1....PAR1", "parquet"),
    ],
)
def test_detect_format_by_extension(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert detect_format(path) == expected


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("img.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "img.csv: this is a PNG image, not CSV"),
        ("a.jsonl", b"PK\x03\x04rest", "a.jsonl: this is a ZIP archive (xlsx, docx, zip), not JSON Lines"),
        ("a.csv", b"\x1f\x8b\x08\x00", "gzip-compressed data"),
        ("junk.csv", b"abc\x00\x01\x02\xff", "junk.csv: binary data (NUL bytes), not CSV"),
        ("a.parquet", b"case_id\nc1\n", "a.parquet: not a Parquet file (no PAR1 header)"),
        ("empty.csv", b"", "empty.csv: empty file"),
        ("a.txt", b"x", "unknown file type '.txt'"),
        ("noext", b"x", "unknown file type '(no extension)'"),
    ],
)
def test_detect_format_refuses(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        detect_format(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        detect_format(tmp_path / "nope.csv")
    with pytest.raises(IngestError, match="not a regular file"):
        detect_format(tmp_path)


@pytest.mark.parametrize("kind", ["prediction", "selection", "case"])
def test_infer_kind_from_full_and_required_columns(tmp_path, kind):
    assert infer_kind(tmp_path, list(c.COLUMNS_BY_KIND[kind])) == kind
    assert infer_kind(tmp_path, list(REQUIRED_COLUMNS[kind])) == kind


def test_required_columns_leave_out_only_nullable_ones():
    assert "prediction_id" not in REQUIRED_COLUMNS["selection"]
    assert "template_id_1" in REQUIRED_COLUMNS["prediction"]
    assert "score_1" in REQUIRED_COLUMNS["prediction"]
    assert "template_id_2" not in REQUIRED_COLUMNS["prediction"]


def test_infer_kind_names_the_closest_kind(tmp_path):
    with pytest.raises(IngestError, match="closest is case, missing closed_at"):
        infer_kind(tmp_path, ["case_id", "handle_time_s"])
    both = list(c.SELECTION_COLUMNS) + [c.HANDLE_TIME_S, c.CLOSED_AT]
    with pytest.raises(IngestError, match="fit several kinds \\(selection, case\\); pass --kind"):
        infer_kind(tmp_path, both)


def test_check_columns(tmp_path):
    check_columns(tmp_path, "case", ["case_id", "handle_time_s", "closed_at", "extra"])
    with pytest.raises(IngestError, match="repeated column\\(s\\) case_id"):
        check_columns(tmp_path, "case", ["case_id", "case_id", "handle_time_s", "closed_at"])
    assert extra_columns("case", ["case_id", "extra", "handle_time_s"]) == ["extra"]
