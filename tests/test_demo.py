"""`abkit demo`: simulate once, report (stored as a snapshot), then the dashboard."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.report.snapshots import latest_snapshot


def test_demo_simulates_once_prints_the_report_and_stores_it(tmp_path):
    db = tmp_path / "nested" / "demo.sqlite"
    runner = CliRunner()
    args = ["demo", "--db", str(db), "--seed", "3", "--scale", "4000", "--no-dashboard"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "simulated seed 3" in first.output
    # The Markdown report names every simulated version in its per-version table.
    for version in ("v1", "v2", "v3", "v4"):
        assert f"| {version} |" in first.output

    stored = latest_snapshot(f"sqlite:///{db}")
    assert stored is not None
    _, document = stored
    # one row per (experiment, version): each version against the standing holdout, in release order
    standing = [row["model_version"] for row in document["versions"] if row["experiment"] == "standing"]
    assert standing == ["v1", "v2", "v3", "v4"]
    json.dumps(document, allow_nan=False)  # strict JSON: no NaN passed off as a number

    second = runner.invoke(cli, args)
    assert second.exit_code == 0
    assert "already holds events" in second.output and "simulated seed" not in second.output


def test_demo_refuses_bad_scale(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--db", str(tmp_path / "d.sqlite"), "--scale", "lots", "--no-dashboard"])
    assert result.exit_code == 2


def test_demo_challenger_tests_are_read_sequentially_with_cuped(tmp_path):
    # the simulated advocates keep their speed and have history before each challenger test, so
    # CUPED reduces the variance of every challenger comparison; each is read through its sequence
    db = tmp_path / "demo.sqlite"
    args = ["demo", "--db", str(db), "--seed", "7", "--scale", "small", "--no-dashboard"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    stored = latest_snapshot(f"sqlite:///{db}")
    assert stored is not None
    comparisons = stored[1]["comparisons"]
    assert [c["experiment"] for c in comparisons] == ["v2-challenger", "v3-challenger", "v4-challenger"]
    for comparison in comparisons:
        assert comparison["analysis"] == "sequential" and comparison["verdict"]["analysis"] == "sequential"
        assert comparison["cuped"]["variance_reduction"] > 0
        assert comparison["cuped"]["interactions_with_history"] > 0
        # a two-week test read day by day, the last look being the whole test's adjusted sequence
        sequence = comparison["sequence"]
        assert len(sequence) == 14 and comparison["sequence_cuped"] is True
        assert sequence[-1]["delta_ci95_s"] == pytest.approx(
            comparison["cuped"]["sequential"]["delta_ci95_s"], rel=1e-9
        )
