"""`abkit experiments`: the file's list, `apply` (phases recorded in the store) and `--history`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.events import EventStore

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments.toml"
STANDING_V1 = '[experiments.standing]\nsalt = "standing"\narms = { holdout = 0.02, v1 = 0.98 }\n'
STANDING_V2 = '[experiments.standing]\nsalt = "standing"\narms = { holdout = 0.02, v2 = 0.98 }\n'
RAMP = '\n[experiments.v2-challenger]\nsalt = "v2c"\narms = { holdout = 0.02, v2 = 0.1, v1 = 0.88 }\n'


def _run(*args: str, env: dict | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env=env)


def _apply(db: str, config: str, *extra: str):  # type: ignore[no-untyped-def]
    return _run("experiments", "apply", "--db", db, "--experiments-file", config, *extra)


def _file(tmp_path: Path, text: str, name: str = "experiments.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_plain_experiments_lists_the_file_under_its_serve_option_name_too():
    # tests/test_assignment_cli.py checks the listing with --experiments-file.
    result = _run("experiments", "--experiments-file", str(EXPERIMENTS))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "standing\tstanding\tholdout=0.02 v4=0.98"


def test_apply_records_new_phases_and_reports_unchanged_ones(tmp_path):
    db = str(tmp_path / "e.sqlite")
    first = _apply(
        db,
        _file(tmp_path, STANDING_V1 + RAMP),
        "--at",
        "2026-03-02T09:00:00Z",
    )
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == [
        "standing: new phase 1 from 2026-03-02 09:00:00 (holdout=0.02 v1=0.98)",
        "v2-challenger: new phase 1 from 2026-03-02 09:00:00 (holdout=0.02 v2=0.1 v1=0.88)",
    ]
    # Promote v2 a week later (an offset is converted to UTC); the challenger is unchanged.
    later = _apply(
        db,
        _file(tmp_path, STANDING_V2 + RAMP),
        "--at",
        "2026-03-09T10:30:00+01:00",
    )
    assert later.exit_code == 0, later.output
    assert later.stdout.splitlines() == [
        "standing: new phase 2 from 2026-03-09 09:30:00 (holdout=0.02 v2=0.98)",
        "v2-challenger: unchanged (phase 1, since 2026-03-02 09:00:00)",
    ]
    phases = EventStore.open(db).experiment_phases()
    assert [(p.experiment, p.phase, p.started_at) for p in phases] == [
        ("standing", 1, datetime(2026, 3, 2, 9, 0)),
        ("standing", 2, datetime(2026, 3, 9, 9, 30)),
        ("v2-challenger", 1, datetime(2026, 3, 2, 9, 0)),
    ]


def test_history_lists_every_phase(tmp_path):
    db = str(tmp_path / "e.sqlite")
    _apply(db, _file(tmp_path, STANDING_V1), "--at", "2026-03-02")
    _apply(db, _file(tmp_path, STANDING_V2 + RAMP), "--at", "2026-03-09 12:00")
    result = _run("experiments", "--db", db, "--history")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "experiment\tphase\tstarted_at\tsalt\tarms",
        "standing\t1\t2026-03-02 00:00:00\tstanding\tholdout=0.02 v1=0.98",
        "standing\t2\t2026-03-09 12:00:00\tstanding\tholdout=0.02 v2=0.98",
        "v2-challenger\t1\t2026-03-09 12:00:00\tv2c\tholdout=0.02 v2=0.1 v1=0.88",
    ]
    only = _run("experiments", "--history", "-e", "v2-challenger", env={"ABKIT_DB": db})
    assert only.stdout.splitlines()[1:] == ["v2-challenger\t1\t2026-03-09 12:00:00\tv2c\tholdout=0.02 v2=0.1 v1=0.88"]


def test_apply_only_the_named_experiments(tmp_path):
    db = str(tmp_path / "e.sqlite")
    result = _apply(db, _file(tmp_path, STANDING_V1 + RAMP), "-e", "v2-challenger")
    assert result.exit_code == 0, result.output
    assert [p.experiment for p in EventStore.open(db).experiment_phases()] == ["v2-challenger"]


def test_history_of_a_database_without_phases_says_how_to_record_them(tmp_path):
    db = str(tmp_path / "e.sqlite")
    EventStore.open(db).close()
    result = _run("experiments", "--db", db, "--history")
    assert result.exit_code == 0
    assert result.stdout == "experiment\tphase\tstarted_at\tsalt\tarms\n"
    assert "`abkit experiments apply` records the experiments file" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "--at", "2026-03-02"), "apply needs --db URL (or $ABKIT_DB)"),
        (("apply", "--db", "{db}", "--at", "yesterday"), "--at: 'yesterday' is not an ISO 8601 timestamp"),
        (
            ("apply", "--db", "{db}", "--at", "0001-01-01T00:00:00+01:00"),
            "--at: '0001-01-01T00:00:00+01:00' is before year 1 or after year 9999 in UTC",
        ),
        (("apply", "--db", "{db}", "-e", "nope"), "unknown experiment 'nope';"),
        (("apply", "--db", "{db}", "--experiments-file", "{missing}"), "experiments file not found"),
        (("apply", "--db", "sqlite+nodriver:///x"), "--db"),
        (("--history",), "--history needs --db URL (or $ABKIT_DB)"),
        (("--history", "--db", "{missing}"), "--db: no database file at"),
        (("--history", "--db", "{db}", "-e", "nope"), "no phases recorded for experiment 'nope'; recorded: standing"),
        (
            (
                "-e",
                "standing",
            ),
            "--experiment filters --history",
        ),
    ],
)
def test_errors_are_one_line(tmp_path, args, message):
    db = str(tmp_path / "e.sqlite")
    config = _file(tmp_path, STANDING_V1)
    _apply(db, config, "--at", "2026-03-02")
    values = {"db": db, "missing": str(tmp_path / "none")}
    filled = [arg.format(**values) for arg in args]
    if "--experiments-file" not in filled:
        filled = (
            ["--experiments-file", config, *filled] if filled[0] != "apply" else [*filled, "--experiments-file", config]
        )
    result = _run("experiments", *filled, env={"ABKIT_DB": ""})
    assert result.exit_code != 0
    assert message in result.stderr, result.output
    assert "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        result.stderr.strip().splitlines()[-1]
    ]


def test_a_phase_before_the_latest_is_refused_naming_both_times(tmp_path):
    db = str(tmp_path / "e.sqlite")
    _apply(db, _file(tmp_path, STANDING_V1), "--at", "2026-03-09")
    # The file's other experiment (alphabetically first) is not recorded either: all or none.
    result = _apply(
        db, _file(tmp_path, STANDING_V2 + RAMP.replace("v2-challenger", "a-test"), "v2.toml"), "--at", "2026-03-02"
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: experiment 'standing': a new phase cannot start at 2026-03-02 00:00:00, "
        "before its phase 1 started (2026-03-09 00:00:00)"
    )
    assert [p.experiment for p in EventStore.open(db).experiment_phases()] == ["standing"]
