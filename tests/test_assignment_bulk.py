"""`assign_csv`: a whole file of units, CSV in and CSV out."""

from __future__ import annotations

import polars as pl
import pytest

from abkit.assignment.bulk import assign_csv
from abkit.assignment.config import ExperimentConfig

CONFIG = ExperimentConfig("v5-challenger", "v5-challenger", (("holdout", 0.02), ("v4", 0.49), ("v5", 0.49)))


def test_assigns_every_row_and_keeps_other_columns(tmp_path):
    units = tmp_path / "units.csv"
    # Arms of these three units are pinned in tests/test_assignment_hashing.py.
    units.write_text("advocate_id,case_id,note\nadv-7,case-8,a\nadv-7,case-1,b\nadv-7,case-0,\n")
    out = tmp_path / "arms.csv"
    assert assign_csv(CONFIG, units, out) == 3
    result = pl.read_csv(out, infer_schema=False)
    assert result.columns == ["advocate_id", "case_id", "note", "arm"]
    assert result["arm"].to_list() == ["holdout", "v4", "v5"]
    assert result["note"].to_list() == ["a", "b", None]


def test_ids_are_taken_verbatim_and_leading_zeros_kept(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("case_id,advocate_id\n007,0042\n")
    out = tmp_path / "arms.csv"
    assign_csv(CONFIG, units, out)
    assert out.read_text() == f"case_id,advocate_id,arm\n007,0042,{CONFIG.assign('0042', '007')}\n"


def test_writes_to_stdout_without_out(tmp_path, capsys):
    units = tmp_path / "units.csv"
    units.write_text("advocate_id,case_id\nadv-7,case-8\n")
    assign_csv(CONFIG, units, None)
    assert capsys.readouterr().out == "advocate_id,case_id,arm\nadv-7,case-8,holdout\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"advocate_id,case\na,b\n", "missing column(s) case_id"),
        (b"advocate_id,case_id\na,b\n,c\n", "row 2: advocate_id is empty"),
        (b"advocate_id,case_id\na,b\nc,d\xffe\n", "row 2: case_id is not valid UTF-8"),
        (b"advocate_id,case_id\na,b\x1fc\n", "row 1: case_id contains the unit separator"),
        # A repeated column would be renamed advocate_id_duplicated_0 in the output, and which
        # advocate_id was hashed would be a guess.
        (b"advocate_id,case_id,advocate_id\na,b,c\n", "repeated column(s) advocate_id"),
        (b"\xef\xbb\xbfadvocate_id,case_id,note,note\na,b,1,2\n", "repeated column(s) note"),
        (b"", "not a readable CSV (no header line)"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, content, message):
    units = tmp_path / "units.csv"
    units.write_bytes(content)
    with pytest.raises(ValueError) as caught:
        assign_csv(CONFIG, units, tmp_path / "out.csv")
    assert message in str(caught.value)
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    "content",
    [
        "advocate_id,case_id,note\nadv-7,case-8,a\nadv-7,case-1,b\n\n",  # a trailing blank line
        "advocate_id,case_id,note\n\nadv-7,case-8,a\n\n\nadv-7,case-1,b\n",  # blank lines anywhere
        "advocate_id,case_id,note\r\nadv-7,case-8,a\r\n\r\nadv-7,case-1,b\r\n\r\n",
    ],
)
def test_blank_lines_are_not_rows_as_in_ingest(tmp_path, content):
    units = tmp_path / "units.csv"
    units.write_text(content, newline="")
    out = tmp_path / "arms.csv"
    assert assign_csv(CONFIG, units, out) == 2
    assert out.read_text() == "advocate_id,case_id,note,arm\nadv-7,case-8,a,holdout\nadv-7,case-1,b,v4\n"


def test_blank_lines_are_not_counted_in_the_row_an_error_names(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("advocate_id,case_id\n\na,b\n\n,c\n")
    with pytest.raises(ValueError, match="row 2: advocate_id is empty"):
        assign_csv(CONFIG, units, None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("advocate_id,case_id\na,b\nc,d,e\n", "row 2: expected 2 fields, found 3"),
        ("advocate_id,case_id,note\na,b,c\n\nd,e\n", "row 2: expected 3 fields, found 2"),  # the note left out
        ("advocate_id,case_id\na,b\nc\n", "row 2: expected 2 fields, found 1"),
        ("advocate_id,case_id,note\na,b,c\nd,e\nf,g,h\n", "row 2: expected 3 fields, found 2"),  # polars pads it
        ('advocate_id,case_id\na,b\n"c,d\n', "row 2: unreadable CSV: a quoted field opened on this row"),
        # (text after a closing quote, "c"x, is polars' to read: 1.2 reads cx, later releases refuse it)
    ],
)
def test_ragged_or_unreadable_row_is_one_line_naming_the_row(tmp_path, content, message):
    units = tmp_path / "units.csv"
    units.write_text(content)
    with pytest.raises(ValueError) as caught:
        assign_csv(CONFIG, units, tmp_path / "out.csv")
    assert str(caught.value).startswith(f"{units}: {message}")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.csv").exists()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        assign_csv(CONFIG, tmp_path / "nope.csv", None)
