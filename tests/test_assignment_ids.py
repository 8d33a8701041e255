"""The one id normalisation rule, seen through every entry point that takes an id."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from abkit.assignment import load_experiments
from abkit.assignment.bulk import assign_csv
from abkit.assignment.ids import ID_WHITESPACE, normalise_id, normalise_id_expr
from abkit.cli.main import cli
from abkit.events.validate import validate_batch
from abkit.serving.schemas import SelectionRequest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments.toml"
STANDING = load_experiments(EXPERIMENTS)["standing"]
# Spaced forms of units; each must get the arm of its trimmed form.
SPACED = [(" adv-1", "case-1"), ("adv-7\t", "\u00a0case-29"), ("\u3000adv-7 ", "case-29\r\n")]


def test_the_rule_is_unicode_white_space_the_same_in_python_and_polars():
    python_space = {chr(i) for i in range(0x3001) if chr(i).isspace()} - {"\x1c", "\x1d", "\x1e", "\x1f"}
    assert set(ID_WHITESPACE) == python_space
    values = [f"{ch}id{ch}" for ch in ID_WHITESPACE] + ["\x1cid", " in side ", "007"]
    by_polars = pl.select(normalise_id_expr(pl.lit(pl.Series(values)))).to_series().to_list()
    assert by_polars == [normalise_id(v) for v in values] == ["id"] * len(ID_WHITESPACE) + ["\x1cid", "in side", "007"]


@pytest.mark.parametrize(("advocate", "case"), SPACED)
def test_assign_cli_single_and_file_agree_with_the_trimmed_unit(tmp_path, advocate, case):
    expected = STANDING.assign(advocate.strip(), case.strip())
    single = CliRunner().invoke(
        cli, ["assign", "--experiments-file", str(EXPERIMENTS), "-e", "standing", advocate, case]
    )
    assert single.exit_code == 0, single.output
    assert single.stdout == f"{expected}\n"
    units = tmp_path / "units.csv"
    pl.DataFrame({"advocate_id": [advocate], "case_id": [case]}).write_csv(units)
    out = tmp_path / "arms.csv"
    assign_csv(STANDING, units, out)
    written = pl.read_csv(out, infer_schema=False)
    assert written["arm"].to_list() == [expected]
    assert written["advocate_id"].to_list() == [advocate]  # rows are written back as read


def test_assign_file_refuses_an_id_of_only_whitespace(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text('advocate_id,case_id\nadv-1,case-1\nadv-2," \t"\n')
    with pytest.raises(ValueError, match="row 2: case_id is empty"):
        assign_csv(STANDING, units, None)


@pytest.mark.parametrize(("advocate", "case"), SPACED)
def test_the_service_schema_and_the_event_store_store_the_trimmed_ids(advocate, case):
    body = {
        "selection_id": f" s-{advocate}\u2028",
        "case_id": case,
        "message_id": "m1",
        "advocate_id": advocate,
        "template_id": "t1",
        "selection_time_s": 3.0,
    }
    request = SelectionRequest.model_validate(body)
    assert (request.advocate_id, request.case_id) == (advocate.strip(), case.strip())
    assert request.selection_id == body["selection_id"].strip()
    frame = pl.DataFrame(
        {
            **{k: [v] for k, v in body.items() if k != "selection_time_s"},
            "experiment": ["standing"],
            "arm": ["v4"],
            "model_version": ["v4"],
            "selection_time_s": ["3"],
            "created_at": ["2026-01-01T00:00:00"],
        }
    )
    checked = validate_batch("selection", frame)
    assert checked.valid["advocate_id"].to_list() == [request.advocate_id]
    assert checked.valid["case_id"].to_list() == [request.case_id]
    assert checked.valid["selection_id"].to_list() == [request.selection_id]


def test_separator_like_controls_are_not_trimmed_by_either_side():
    # Python's str.strip() removes U+001C; the rule does not, in the schema as in the store.
    request = SelectionRequest.model_validate(
        {
            "case_id": "\x1ccase",
            "message_id": "m",
            "advocate_id": "a",
            "template_id": "t",
            "selection_time_s": 1,
        }
    )
    assert request.case_id == "\x1ccase"
