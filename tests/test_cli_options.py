"""One name per concept across commands: --experiments-file everywhere, old names hidden aliases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments.toml"
COMMANDS_TAKING_THE_FILE = [("assign",), ("experiments",), ("experiments", "apply"), ("serve",), ("report",)]


@pytest.mark.parametrize("command", COMMANDS_TAKING_THE_FILE)
def test_help_shows_only_experiments_file(command):
    shown = CliRunner().invoke(cli, [*command, "--help"]).output
    assert "--experiments-file" in shown
    # --experiment NAME stays (a different concept); the old file names are hidden.
    assert "--config" not in shown and not re.search(r"--experiments(?!-file)", shown)


@pytest.mark.parametrize(
    ("old_name", "args"),
    [
        ("--config", ["assign", "{old}", str(EXPERIMENTS), "-e", "standing", "adv-7", "case-29"]),
        ("--experiments", ["assign", "{old}", str(EXPERIMENTS), "-e", "standing", "adv-7", "case-29"]),
        ("--config", ["experiments", "{old}", str(EXPERIMENTS)]),
    ],
)
def test_old_names_still_work_with_a_warning(old_name, args):
    result = CliRunner().invoke(cli, [old_name if arg == "{old}" else arg for arg in args])
    assert result.exit_code == 0, result.output
    assert f"warning: {old_name} is deprecated; use --experiments-file" in result.stderr
    if args[0] == "assign":
        assert result.stdout == "holdout\n"  # pinned in tests/test_assignment_hashing.py


def test_report_reads_the_file_under_its_old_name_too(tmp_path):
    # `abkit report --experiments FILE` was the report's own name; a bad file must still be read and refused.
    bad = tmp_path / "bad.toml"
    bad.write_text('[experiments.x]\nsalt = "x"\narms = { holdout = 0.5, v1 = 0.5 }\nanalysis = "maybe"\n')
    db = tmp_path / "events.sqlite"
    db.touch()
    for name in ("--experiments-file", "--experiments"):
        result = CliRunner().invoke(cli, ["report", "--db", str(db), name, str(bad)])
        assert result.exit_code == 2 and "analysis must be one of" in result.output, result.output


def test_the_environment_variable_names_the_file(tmp_path):
    result = CliRunner().invoke(cli, ["experiments"], env={"ABKIT_EXPERIMENTS": str(EXPERIMENTS)})
    assert result.exit_code == 0 and "v5-challenger" in result.stdout
    missing = CliRunner().invoke(cli, ["experiments"], env={"ABKIT_EXPERIMENTS": str(tmp_path / "none.toml")})
    assert missing.exit_code == 2 and "experiments file not found" in missing.output


def test_pre_period_default_is_the_reports():
    # written out in abkit.cli.options so that the CLI need not import the report's queries to start
    from abkit.cli.options import DEFAULT_PRE_PERIOD_DAYS
    from abkit.report.online_queries import DEFAULT_PRE_PERIOD_DAYS as REPORT_DEFAULT

    assert DEFAULT_PRE_PERIOD_DAYS == REPORT_DEFAULT


@pytest.mark.parametrize("command", [("report",), ("power", "--experiment", "standing")])
@pytest.mark.parametrize("days", ["nan", "inf", "1e10", "0", "-1"])
def test_a_pre_period_out_of_range_is_a_usage_error_before_the_store_is_read(command, days, tmp_path):
    # the store does not exist: the option is refused first, naming it (click lets NaN through FloatRange)
    result = CliRunner().invoke(cli, [*command, "--db", str(tmp_path / "none.sqlite"), "--pre-period-days", days])
    assert result.exit_code == 2 and "--pre-period-days" in result.output, result.output


def test_the_longest_pre_period_is_the_longest_timedelta():
    from datetime import timedelta

    from abkit.cli.options import MAX_PERIOD_DAYS

    assert timedelta.max.days == MAX_PERIOD_DAYS
