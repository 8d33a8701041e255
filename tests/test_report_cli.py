"""`abkit report` through click's CliRunner: every format, --out, --store, and refused input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.report.snapshots import latest_snapshot
from tests.report_events import event_frames, write_events


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "events.sqlite"
    write_events(str(path), event_frames(interactions=90))
    return path


def run(*args):
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def test_json_follows_the_contract(database):
    result = run("--db", str(database), "--format", "json", "--top-n", "5")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["schema_version"] == 2 and document["templates"]["top_n"] == 5
    assert len(document["templates"]["rows"]) == 5
    assert {"experiment", "model_version", "verdict", "treatment", "holdout", "delta_s", "welch", "clustered"} <= set(
        document["versions"][0]
    )


def test_markdown_is_the_default(database):
    result = run("--db", str(database), "--experiment", "standing")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# abkit significance report")
    assert "| v1 |" in result.output and "experiment: standing" in result.output


def test_html_to_file_is_self_contained(database, tmp_path):
    out = tmp_path / "report.html"
    result = run("--db", str(database), "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "plotly" in page.lower()
    assert '<script src="http' not in page and "Time saved per selection" in page and "Verdicts" in page


def test_store_saves_a_snapshot(tmp_path):
    path = tmp_path / "events.sqlite"
    write_events(str(path), event_frames(interactions=30))
    result = run("--db", str(path), "--format", "json", "--store", "--since", "2026-01-01")
    assert result.exit_code == 0, result.output
    computed_at, stored = latest_snapshot(str(path))
    assert stored["totals"] == json.loads(result.stdout)["totals"]
    assert stored["window"]["since"] == "2026-01-01T00:00:00"


def test_bad_input_is_refused_with_a_reason(tmp_path):
    missing = run("--db", str(tmp_path / "none.sqlite"))
    assert missing.exit_code == 2 and "no database file" in missing.output
    (tmp_path / "export").mkdir()
    empty_dir = run("--db", str(tmp_path / "export"))
    assert empty_dir.exit_code == 2 and "selections" in empty_dir.output
    backwards = run("--db", str(tmp_path / "export"), "--since", "2026-02-01", "--until", "2026-01-01")
    assert backwards.exit_code == 2
    assert run("--db", str(tmp_path / "export"), "--format", "pdf").exit_code == 2
    assert run("--db", str(tmp_path / "export"), "--top-n", "0").exit_code == 2


def test_a_pre_period_out_of_range_is_refused_and_a_long_one_reaches_back_to_year_one(database):
    for bad in ("nan", "inf", "1e10"):
        refused = run("--db", str(database), "--pre-period-days", bad)
        assert refused.exit_code == 2 and "Invalid value for '--pre-period-days'" in refused.output, bad
    # 1e8 days before 2026 lies before year 1: the pre-period is all the history there is
    result = run("--db", str(database), "--format", "json", "--pre-period-days", "1e8")
    assert result.exit_code == 0, result.output
    assert {v["cuped"]["pre_period_days"] for v in json.loads(result.output)["versions"]} == {1e8}


def test_an_unknown_experiment_is_refused_and_a_known_one_outside_the_window_is_empty(database, tmp_path):
    unknown = run("--db", str(database), "--experiment", "nope")
    assert unknown.exit_code == 2
    assert "unknown experiment 'nope'" in unknown.output and "standing, v2-challenger, v3-pilot" in unknown.output
    # a store written without registering: v3-pilot is known from its events alone
    bare = tmp_path / "unregistered.sqlite"
    write_events(str(bare), event_frames(interactions=30), register=False)
    quiet = run("--db", str(bare), "--experiment", "v3-pilot", "--since", "2030-01-01", "--format", "json")
    assert quiet.exit_code == 0, quiet.output
    assert json.loads(quiet.output)["totals"] == {"selections": 0, "predictions": 0, "cases": 0}
    assert run("--db", str(bare), "--experiment", "v3-pilotx").exit_code == 2
