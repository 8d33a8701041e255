"""`abkit simulate` on the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from abkit.cli.main import cli
from abkit.events.schema import selections
from abkit.events.store import EventStore


def test_simulate_writes_events_and_transcripts(tmp_path):
    db, transcripts = tmp_path / "sim.sqlite", tmp_path / "t.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            "--db",
            str(db),
            "--seed",
            "2",
            "--scale",
            "2000",
            "--quiet",
            "--start",
            "2025-03-03",
            "--transcripts",
            str(transcripts),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "simulated seed 2" in result.output and "transcripts:" in result.output
    store = EventStore.open(str(db))
    with store.engine.connect() as conn:
        n, first = conn.execute(select(func.count(), func.min(selections.c.created_at))).one()
    assert 1800 < n < 2200
    assert str(first).startswith("2025-03-03")
    cases = [json.loads(line) for line in transcripts.read_text(encoding="utf-8").splitlines()]
    assert sum(m["template_id"] is not None for case in cases for m in case["messages"]) == n


def test_simulate_refuses_bad_scale_and_missing_db(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["simulate", "--db", str(tmp_path / "x.sqlite"), "--scale", "huge"])
    assert result.exit_code == 2 and "--scale" in result.output
    result = runner.invoke(cli, ["simulate", "--db", str(tmp_path / "x.sqlite"), "--scale", "0"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["simulate"])
    assert result.exit_code == 2 and "--db" in result.output


def test_simulate_help():
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0 and "--transcripts" in result.output and "bench" in result.output


def test_simulate_with_a_ramp_records_its_phases_and_refuses_another_timeline(tmp_path):
    db = str(tmp_path / "sim.sqlite")
    args = ["simulate", "--db", db, "--scale", "1000", "--quiet", "--challenger-ramp-days", "3"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    v2_test = EventStore.open(db).experiment_phases("v2-challenger")
    assert [p.arms[2] for p in v2_test] == [("v2", 0.1), ("v2", 0.49)]
    bad = CliRunner().invoke(cli, [*args[:-1], "14"])
    assert bad.exit_code == 2 and "challenger_ramp_days: must be in [0, challenger_days = 14)" in bad.stderr
    earlier = CliRunner().invoke(cli, [*args, "--start", "2025-01-06"])
    assert earlier.exit_code == 1
    assert earlier.stderr.startswith(f"Error: --db {db} holds another timeline's experiment phases: experiment")
