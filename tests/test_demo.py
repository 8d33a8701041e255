"""`abkit demo`: simulate once, report (stored as a snapshot), then the dashboard."""

from __future__ import annotations

import json

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
