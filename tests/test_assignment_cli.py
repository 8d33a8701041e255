"""`abkit assign` and `abkit experiments` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments.toml"


def _run(*args: str, env: dict | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.mark.parametrize(
    ("experiment", "advocate", "case", "arm"),
    # Pinned in tests/test_assignment_hashing.py.
    [
        ("standing", "adv-1", "case-1", "v4"),
        ("standing", "adv-7", "case-29", "holdout"),
        ("v5-challenger", "adv-7", "case-0", "v5"),
    ],
)
def test_assign_one_unit(experiment, advocate, case, arm):
    result = _run("assign", "--experiments-file", str(EXPERIMENTS), "--experiment", experiment, advocate, case)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{arm}\n"


def test_config_from_environment():
    result = _run("assign", "-e", "standing", "adv-7", "case-29", env={"ABKIT_EXPERIMENTS": str(EXPERIMENTS)})
    assert result.stdout == "holdout\n"


def test_assign_file_to_out(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("advocate_id,case_id\nadv-1,case-1\nadv-7,case-29\n")
    out = tmp_path / "arms.csv"
    result = _run(
        "assign", "--experiments-file", str(EXPERIMENTS), "-e", "standing", "--file", str(units), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() == "advocate_id,case_id,arm\nadv-1,case-1,v4\nadv-7,case-29,holdout\n"
    assert f"assigned 2 units -> {out}" in result.stderr


def test_assign_file_to_stdout(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("advocate_id,case_id\nadv-1,case-1\n")
    result = _run("assign", "--experiments-file", str(EXPERIMENTS), "-e", "standing", "--file", str(units))
    assert result.exit_code == 0, result.output
    assert result.stdout == "advocate_id,case_id,arm\nadv-1,case-1,v4\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-e", "nope", "a", "c"), "unknown experiment 'nope'; configured: standing, v5-challenger"),
        (("-e", "standing", "a"), "give ADVOCATE_ID CASE_ID, or --file units.csv"),
        (("-e", "standing", "--file", "units.csv", "a", "c"), "not both"),
        (("-e", "standing", "a\x1fb", "c"), "must not contain the unit separator"),
        # Bytes that are not UTF-8 in argv reach Python as lone surrogates (\udcff for 0xff).
        (("-e", "standing", "adv-\udcff", "c"), "advocate_id: not valid UTF-8"),
    ],
)
def test_assign_usage_errors(args, message):
    result = _run("assign", "--experiments-file", str(EXPERIMENTS), *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_assign_bad_file_exits_2(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("advocate,case\na,b\n")
    result = _run("assign", "--experiments-file", str(EXPERIMENTS), "-e", "standing", "--file", str(units))
    assert result.exit_code == 2
    assert result.stderr == f"error: {units}: missing column(s) advocate_id, case_id\n"


def test_assign_file_with_a_trailing_blank_line_and_a_ragged_row(tmp_path):
    units = tmp_path / "units.csv"
    units.write_text("advocate_id,case_id\nadv-1,case-1\n\n")
    result = _run("assign", "--experiments-file", str(EXPERIMENTS), "-e", "standing", "--file", str(units))
    assert result.exit_code == 0, result.output
    assert result.stdout == "advocate_id,case_id,arm\nadv-1,case-1,v4\n"
    units.write_text("advocate_id,case_id\nadv-1,case-1\nadv-2,case-2,x\n")
    result = _run("assign", "--experiments-file", str(EXPERIMENTS), "-e", "standing", "--file", str(units))
    assert result.exit_code == 2
    assert result.stderr == f"error: {units}: row 2: expected 2 fields, found 3\n"


def test_invalid_config_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "experiments.toml"
    bad.write_text('[experiments.x]\nsalt = "s"\narms = { v1 = 0.5, holdout = 0.5 }\n')
    for args in (
        ("assign", "--experiments-file", str(bad), "-e", "x", "a", "c"),
        ("experiments", "--experiments-file", str(bad)),
    ):
        result = _run(*args)
        assert result.exit_code == 2
        assert "the holdout arm must come first" in result.stderr
    missing = _run("experiments", "--experiments-file", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2 and "experiments file not found" in missing.stderr


def test_experiments_lists_weights():
    result = _run("experiments", "--experiments-file", str(EXPERIMENTS))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "experiment\tsalt\tarms",
        "standing\tstanding\tholdout=0.02 v4=0.98",
        "v5-challenger\tv5-challenger\tholdout=0.02 v4=0.49 v5=0.49",
    ]
