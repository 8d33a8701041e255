"""The Overview's power table: read from the report's ``power``, as the report computed it, and on the page."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from abkit.report.build import build_report
from abkit.report.snapshots import store_snapshot
from dashboards.power_table import POWER_COLUMNS, power_table, verdict_method
from tests.power_events import power_frame, write_power_events
from tests.test_dashboard_overview import _callback


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("dashboard-power") / "events.sqlite"
    write_power_events(str(path), power_frame())
    report = build_report(str(path), min_effect_s=0.5).to_dict()
    return str(path), report


def test_one_row_per_comparison_and_analysis_with_the_reports_figures(world):
    report = world[1]
    frame = power_table(report)
    challenger = frame[frame["experiment"] == "v5-test"]
    # 3 comparisons x 4 analyses (CUPED measurable); standing has no pre-period: 1 comparison x 2
    assert len(challenger) == 12 and len(frame[frame["experiment"] == "standing"]) == 2
    entry = next(item for item in report["power"] if item["experiment"] == "v5-test")
    v5 = next(c for c in entry["comparisons"] if (c["treatment"], c["control"]) == ("v5", "holdout"))
    row = challenger[(challenger["comparison"] == "v5 vs holdout") & (challenger["analysis"] == "sequential + CUPED")]
    assert row["mde_14_days_s"].item() == v5["mde_s"][1]["sequential_cuped"]
    assert row["days_to_detect"].item() == v5["days_to_detect"]["sequential_cuped"]
    assert row["saving_s"].item() == 0.5 and row["weights"].item() == "holdout 0.1, v4 0.45, v5 0.45"
    assert row["interactions_per_day"].item() == pytest.approx(sum(v5["interactions_per_day"]))
    # the challenger's verdict reads the CUPED-adjusted sequence; the standing holdout's the fixed test
    assert challenger.loc[challenger["verdict_reads"], "analysis"].unique().tolist() == ["sequential + CUPED"]
    standing = frame[frame["experiment"] == "standing"]
    assert standing.loc[standing["verdict_reads"], "analysis"].tolist() == ["fixed"]
    assert "CUPED" in standing["notes"].iloc[0]


def test_the_version_filter_keeps_its_comparisons(world):
    frame = power_table(world[1], "v5")
    assert set(frame["comparison"]) == {"v5 vs holdout", "v5 vs v4"}


def test_a_report_without_power_gives_an_empty_table_with_headers():
    old = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())
    frame = power_table(old)
    assert frame.empty and list(frame.columns) == list(POWER_COLUMNS)


def test_verdict_method():
    assert verdict_method("sequential", True) == "sequential + CUPED"
    assert verdict_method("sequential", False) == "sequential"
    assert verdict_method("fixed", True) == "fixed"


def test_the_overview_page_and_its_csv_show_the_table(world, tmp_path):
    from dashboards import create_app

    path, report = world
    snapshot_id = store_snapshot(path, report)
    app = create_app(path)
    page = _callback(app, "overview-power.data", [{"snapshot_id": snapshot_id}, None, None, None])
    records = page["overview-power"]["data"]
    assert len(records) == 14
    bold = [r for r in records if r["verdict_reads"] == "yes"]
    assert {(r["experiment"], r["analysis"]) for r in bold} == {
        ("v5-test", "sequential + CUPED"),
        ("standing", "fixed"),
    }
    assert "weights" not in records[0]  # the same on every row of an experiment: the CSV keeps them
    assert page["overview-power-csv"]["href"].startswith("/download/power.csv?")
    response = app.server.test_client().get(f"/download/power.csv?snapshot={snapshot_id}")
    assert response.status_code == 200
    csv = pd.read_csv(io.StringIO(response.get_data(as_text=True)))
    assert list(csv.columns) == list(POWER_COLUMNS) and len(csv) == 14
