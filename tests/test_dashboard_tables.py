"""Tables computed from a report: golden values are read off tests/data/report_snapshot.json by hand."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dashboards import tables

FIXTURE = Path(__file__).parent / "data" / "report_snapshot.json"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(FIXTURE.read_text())


def test_overview_has_one_row_per_version_with_the_report_figures(report):
    frame = tables.overview_table(report)
    assert list(frame["model_version"]) == ["v1", "v2", "v3"]
    v1 = frame.iloc[0]
    assert (v1["n_treatment"], v1["n_holdout"]) == (19600, 400)
    assert (v1["mean_with_s"], v1["mean_without_s"], v1["delta_s"]) == (13.42, 19.05, -5.63)
    assert (v1["delta_ci95_low_s"], v1["delta_ci95_high_s"]) == (-6.14, -5.12)
    assert (v1["welch_p"], v1["clustered_p"], v1["top5"]) == (3.1e-71, 2.2e-46, 0.751)
    assert v1["verdict"] == tables.SAVES_TIME and not v1["srm_flag"]


def test_overview_keeps_missing_figures_missing_and_says_why(report):
    v3 = tables.overview_table(report, "v3").iloc[0]
    assert pd.isna(v3["clustered_p"]) and pd.isna(v3["case_time_saved_share"])
    assert "clustered: one selection per interaction in holdout" in v3["notes"]
    assert "case_time_saved_share: no closed cases in the window" in v3["notes"]
    assert bool(v3["srm_flag"]) is True


def test_version_filter_keeps_only_that_version(report):
    assert list(tables.overview_table(report, "v2")["model_version"]) == ["v2"]
    assert tables.overview_table(report, "v9").empty


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-2.0, -0.1, tables.SAVES_TIME),
        (0.1, 2.0, tables.COSTS_TIME),
        (-1.0, 1.0, tables.INCONCLUSIVE),
        (None, 1.0, tables.NOT_AVAILABLE),
        (float("nan"), 1.0, tables.NOT_AVAILABLE),
    ],
)
def test_verdict_reads_the_confidence_interval(low, high, expected):
    assert tables.verdict(low, high) == expected


def test_challengers_require_holm_adjusted_significance(report):
    frame = tables.challengers_table(report)
    assert list(frame["challenger"]) == ["v2", "v3"]
    assert list(frame["verdict"]) == [tables.SAVES_TIME, tables.INCONCLUSIVE]
    assert frame.iloc[0]["welch_df"] == 9793.1 and frame.iloc[0]["p_holm"] == 3.2e-7
    # v2 took part in both tests (challenger, then baseline); v1 only in the first.
    assert len(tables.challengers_table(report, "v2")) == 2
    assert list(tables.challengers_table(report, "v1")["challenger"]) == ["v2"]


def test_templates_sorted_by_volume_and_cut_to_top_n(report):
    frame = tables.templates_table(report, 3)
    assert list(frame["template_id"]) == ["T0001", "T0002", "T0003"]
    everything = tables.templates_table(report)
    assert len(everything) == 8 and everything["volume"].is_monotonic_decreasing
    assert "saving_s: no holdout selections" in everything.iloc[-1]["notes"]


def test_templates_refuse_a_top_n_below_one(report):
    with pytest.raises(ValueError, match="top_n"):
        tables.templates_table(report, 0)


def test_weekly_pairs_arms_and_accumulates_seconds_saved(report):
    frame = tables.weekly_table(report)
    assert len(frame) == 7
    first = frame.iloc[0]
    assert (first["mean_with_s"], first["mean_without_s"]) == (13.5, 19.1)
    # (19.1 - 13.5) s * 6,500 selections, worked by hand
    assert first["seconds_saved"] == pytest.approx(36_400.0)
    second = (19.0 - 13.4) * 6560
    assert frame.iloc[1]["cumulative_seconds_saved"] == pytest.approx(36_400.0 + second)


def test_weekly_window_keeps_weeks_starting_inside_it(report):
    frame = tables.weekly_table(report, since=date(2026, 1, 19), until=date(2026, 2, 2))
    assert list(frame["week_start"]) == ["2026-01-19", "2026-01-26", "2026-02-02"]
    assert frame.iloc[0]["cumulative_seconds_saved"] == pytest.approx((19.2 - 13.2) * 6900)


def test_weekly_skips_weeks_without_a_holdout_mean():
    report = {
        "weekly": [
            {"week_start": "2026-01-05", "arm_kind": "treatment", "n": 10, "mean_s": 12.0},
            {"week_start": "2026-01-12", "arm_kind": "treatment", "n": 10, "mean_s": 12.0},
            {"week_start": "2026-01-12", "arm_kind": "holdout", "n": 2, "mean_s": 20.0},
        ]
    }
    frame = tables.weekly_table(report)
    assert math.isnan(frame.iloc[0]["seconds_saved"])
    assert list(frame["cumulative_seconds_saved"]) == [0.0, 80.0]


def test_srm_table_formats_counts_and_notes_unregistered_experiments(report):
    frame = tables.srm_table(report)
    standing = frame.iloc[0]
    assert bool(standing["flag"]) and standing["observed"] == "holdout 1,170, v3 60,080"
    assert standing["expected_share"] == "holdout 0.02, v3 0.98"
    legacy = frame[frame["experiment"] == "legacy"].iloc[0]
    assert pd.isna(legacy["p"]) and legacy["notes"] == "experiment not registered"


def test_daily_events_filter_by_version_and_days(report):
    frame = tables.daily_events_table(report, version="v3", since=date(2026, 2, 17))
    assert list(zip(frame["day"], frame["arm"], strict=True)) == [
        ("2026-02-17", "holdout"),
        ("2026-02-17", "v3"),
        ("2026-02-18", "holdout"),
        ("2026-02-18", "v3"),
    ]
    assert tables.daily_events_table(report, experiment="other").empty


def test_latency_filter(report):
    assert list(tables.latency_table(report, "v2")["p99"]) == [80.9]


def test_empty_report_gives_tables_with_headers():
    for frame in (
        tables.overview_table({}),
        tables.challengers_table({}),
        tables.templates_table({}),
        tables.weekly_table({}),
        tables.srm_table({}),
        tables.daily_events_table({}),
        tables.latency_table({}),
    ):
        assert frame.empty and len(frame.columns) > 0
