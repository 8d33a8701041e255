"""`abkit power` through click's CliRunner: the table, --json, the weights it plans for, and refused input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from abkit.cli.main import cli
from abkit.events import EventStore
from abkit.report.build import build_report
from tests.power_events import power_frame, write_power_events


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("power-cli") / "events.sqlite"
    write_power_events(str(path), power_frame())
    with EventStore.open(str(path)) as store:  # registered, never served: no traffic
        store.register_experiment("idle", "idle", (("holdout", 0.02), ("v4", 0.98)))
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, ["power", *args], catch_exceptions=False)


def test_the_table_names_every_comparison_and_method(database):
    result = run("--db", database, "--experiment", "v5-test", "--saving", "0.75")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "experiment v5-test (sequential analysis)" in text
    assert "weights: holdout=0.1 v4=0.45 v5=0.45 (from phase 1)" in text
    for header in ("v4 vs holdout", "v5 vs holdout", "v5 vs v4", "fixed + CUPED", "sequential + CUPED"):
        assert header in text
    assert text.count("days for 0.75 s") == 3 and "14 days" in text


def test_json_is_the_reports_power_entry(database):
    result = run("--db", database, "-e", "v5-test", "--saving", "0.5", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    # the report over the same store plans the same experiment identically (its min-effect is the saving)
    report = build_report(database, min_effect_s=0.5).to_dict()
    assert document == next(item for item in report["power"] if item["experiment"] == "v5-test")


def test_an_experiments_file_sets_the_weights_and_the_analysis(database, tmp_path):
    config = tmp_path / "experiments.toml"
    config.write_text(
        '[experiments.v5-test]\nsalt = "v5-test"\narms = { holdout = 0.02, v4 = 0.49, v5 = 0.49 }\nanalysis = "fixed"\n'
    )
    result = run("--db", database, "-e", "v5-test", "--experiments-file", str(config), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["weights"] == {"holdout": 0.02, "v4": 0.49, "v5": 0.49}
    assert document["weights_from"] == "experiments file" and document["analysis"] == "fixed"
    by_pair = {(c["treatment"], c["control"]): c for c in document["comparisons"]}
    total = document["traffic"]["interactions_per_day"]
    assert by_pair["v5", "holdout"]["interactions_per_day"] == pytest.approx([0.49 * total, 0.02 * total])
    # a 2% holdout detects far less than the 10% one recorded in the store
    recorded = json.loads(run("--db", database, "-e", "v5-test", "--json").output)
    smaller = {(c["treatment"], c["control"]): c for c in recorded["comparisons"]}["v5", "holdout"]
    assert by_pair["v5", "holdout"]["mde_s"][1]["fixed"] > 1.5 * smaller["mde_s"][1]["fixed"]


def test_the_old_option_name_still_reads_the_file_with_a_warning(database, tmp_path):
    config = tmp_path / "experiments.toml"
    config.write_text('[experiments.v5-test]\nsalt = "v5-test"\narms = { holdout = 0.02, v4 = 0.49, v5 = 0.49 }\n')
    result = CliRunner().invoke(
        cli, ["power", "--db", database, "-e", "v5-test", "--experiments", str(config), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "--experiments is deprecated" in result.stderr
    assert json.loads(result.stdout)["weights_from"] == "experiments file"


def test_unknown_experiments_name_the_known_ones(database, tmp_path):
    result = run("--db", database, "-e", "nope")
    assert result.exit_code == 2
    assert "unknown experiment 'nope'; the event store has idle, standing, v5-test" in result.output
    config = tmp_path / "experiments.toml"
    config.write_text('[experiments.standing]\nsalt = "s"\narms = { holdout = 0.02, v4 = 0.98 }\n')
    from_file = run("--db", database, "-e", "v5-test", "--experiments-file", str(config))
    assert from_file.exit_code == 2 and f"unknown experiment 'v5-test'; {config} has standing" in from_file.output


def test_no_traffic_is_an_error_with_a_reason(database):
    idle = run("--db", database, "-e", "idle")
    assert idle.exit_code == 1 and "experiment 'idle': no selections in the event store" in idle.output
    # a window so short it holds a single interaction
    instant = run("--db", database, "-e", "v5-test", "--days", "0.000001")
    assert instant.exit_code == 1 and "the last 1e-06 days" in instant.output


@pytest.mark.parametrize("saving", ["0", "-0.5", "nan", "inf", "fast"])
def test_a_bad_saving_is_refused(database, saving):
    result = run("--db", database, "-e", "v5-test", "--saving", saving)
    assert result.exit_code == 2 and "--saving" in result.output


def test_a_missing_database_is_refused(tmp_path):
    result = run("--db", str(tmp_path / "none.sqlite"), "-e", "standing")
    assert result.exit_code == 2 and "no database file" in result.output
