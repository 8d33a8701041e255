"""`abkit demo`: simulate once, then summarise per model version."""

from __future__ import annotations

from click.testing import CliRunner

from abkit.cli.demo import ArmSummary, arm_summaries, format_summaries
from abkit.cli.main import cli
from abkit.events.store import EventStore


def test_demo_simulates_once_and_summarises(tmp_path):
    db = tmp_path / "nested" / "demo.sqlite"
    runner = CliRunner()
    first = runner.invoke(cli, ["demo", "--db", str(db), "--seed", "3", "--scale", "4000"])
    assert first.exit_code == 0, first.output
    assert "simulated seed 3" in first.output
    for version in ("v1", "v2", "v3", "v4"):
        assert f"\n{version:<8} holdout" in first.output and f"\n{version:<8} {version:<8}" in first.output

    summaries = arm_summaries(EventStore.open(str(db)))
    assert {(s.model_version, s.arm) for s in summaries} >= {("v1", "holdout"), ("v1", "v1"), ("v4", "v4")}
    treatment = [s for s in summaries if s.arm != "holdout"]
    assert sum(s.selections for s in summaries) > 3500
    assert all(10 < s.mean_selection_time_s < 16 for s in treatment)

    second = runner.invoke(cli, ["demo", "--db", str(db), "--seed", "3", "--scale", "4000"])
    assert second.exit_code == 0
    assert "already holds events" in second.output and "simulated seed" not in second.output
    assert second.output.split("Selection time")[1].strip() == first.output.split("Selection time")[1].strip()


def test_format_summaries_by_hand():
    rows = [ArmSummary("v1", "holdout", 10, 19.0), ArmSummary("v1", "v1", 490, 13.0), ArmSummary("v2", "v2", 5, 12.0)]
    lines = format_summaries(rows).splitlines()
    assert lines[1].split() == ["v1", "holdout", "10", "19.00"]
    assert lines[2].split() == ["v1", "v1", "490", "13.00", "6.00"]
    assert lines[3].split() == ["v2", "v2", "5", "12.00"]  # no holdout: no saving


def test_demo_refuses_bad_scale(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "d.sqlite"), "--scale", "lots"])
    assert result.exit_code == 2
