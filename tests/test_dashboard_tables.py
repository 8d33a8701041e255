"""Tables computed from a report: golden values are read off tests/data/report_snapshot.json by hand."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dashboards import tables

FIXTURE = Path(__file__).parent / "data" / "report_snapshot.json"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(FIXTURE.read_text())


def test_overview_has_one_row_per_version_and_experiment_with_the_report_figures(report):
    frame = tables.overview_table(report)
    assert list(zip(frame["model_version"], frame["experiment"], strict=True)) == [
        ("v1", "standing"),
        ("v2", "standing"),
        ("v2", "v2-challenger"),
        ("v3", "standing"),
    ]
    v1 = frame.iloc[0]
    assert (v1["n_treatment"], v1["n_holdout"]) == (19600, 400)
    assert (v1["mean_with_s"], v1["mean_without_s"], v1["delta_s"]) == (13.42, 19.05, -5.63)
    # The interaction-level (clustered) CI is the primary one; Welch's sits beside it.
    assert (v1["delta_ci95_low_s"], v1["delta_ci95_high_s"]) == (-6.25, -5.01)
    assert (v1["delta_ci95_low_pct"], v1["delta_ci95_high_pct"]) == (-32.8, -26.3)
    assert (v1["selection_level_ci95_low_s"], v1["selection_level_ci95_high_s"]) == (-6.14, -5.12)
    assert (v1["selection_level_p"], v1["clustered_p"], v1["top5"]) == (3.1e-71, 2.2e-46, 0.751)
    assert v1["verdict"] == tables.SAVES_TIME and not v1["srm_flag"] and v1["analysis"] == "fixed"
    assert v1["verdict_reason"].startswith("v1 saves 5.63 s per selection")


def test_overview_verdict_is_the_reports_decision_not_the_selection_level_ci(report):
    challenger = tables.overview_table(report).iloc[2]
    # Welch's CI [-7.53, -5.47] excludes zero; the interaction-level one [-13.3, 0.32] does not.
    assert challenger["selection_level_ci95_high_s"] < 0 < challenger["delta_ci95_high_s"]
    assert (challenger["verdict"], challenger["analysis"]) == ("keep collecting", "sequential")
    # The interaction-level delta combines the phases by size; the selection-level one pools them.
    assert (challenger["delta_s"], challenger["selection_level_delta_s"]) == (-6.4, -6.5)


def test_a_report_without_a_verdict_says_so():
    frame = tables.overview_table({"versions": [{"model_version": "v1", "experiment": "standing", "delta_s": -1.0}]})
    assert frame.iloc[0]["verdict"] == tables.NOT_AVAILABLE
    assert pd.isna(frame.iloc[0]["delta_ci95_low_s"])
    # Without an interaction-level delta (schema 1) the selection-level one stands in.
    assert frame.iloc[0]["delta_s"] == frame.iloc[0]["selection_level_delta_s"] == -1.0


def test_overview_keeps_missing_figures_missing_and_says_why(report):
    v3 = tables.overview_table(report, "v3").iloc[0]
    assert pd.isna(v3["clustered_p"]) and pd.isna(v3["case_time_saved_share"]) and pd.isna(v3["delta_ci95_low_s"])
    assert "clustered: one selection per interaction in holdout" in v3["notes"]
    assert "clustered.delta_ci95_s: one selection per interaction in holdout" in v3["notes"]
    assert "case_time_saved_share: no closed cases in the window" in v3["notes"]
    assert bool(v3["srm_flag"]) is True and v3["verdict"] == "do not trust: sample ratio mismatch"


def test_version_filter_keeps_every_row_of_that_version(report):
    assert list(tables.overview_table(report, "v2")["experiment"]) == ["standing", "v2-challenger"]
    assert tables.overview_table(report, "v9").empty


def test_a_re_salted_run_is_named_by_its_salt():
    assert tables.run_label("standing", "standing") == "standing"
    assert tables.run_label("standing", "standing-2") == "standing (salt standing-2)"
    assert tables.run_label("standing", None) == "standing"


def test_version_windows_span_every_experiment_of_the_version(report):
    windows = tables.version_windows(report)
    # v2 ran in v2-challenger from 2026-01-05 and in standing until 2026-02-08.
    assert windows["v2"] == ("2026-01-05T00:00:00", "2026-02-08T23:59:00")
    assert windows["v1"] == ("2026-01-05T00:00:00", "2026-01-25T23:59:00")


def test_version_windows_skip_a_row_without_its_model_version(report):
    # A stored row missing the key used to fail the shell's callback (KeyError) and blank the page.
    broken = {**report, "versions": [{"experiment": "standing"}, *report["versions"]]}
    assert tables.version_windows(broken) == tables.version_windows(report)


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
def test_ci_reading(low, high, expected):
    assert tables.ci_reading(low, high) == expected


def test_challengers_carry_the_verdict_and_interaction_level_holm(report):
    frame = tables.challengers_table(report)
    assert list(frame["challenger"]) == ["v2", "v3"]
    assert list(frame["verdict"]) == [tables.SAVES_TIME, "no detectable difference"]
    first = frame.iloc[0]
    assert (first["delta_ci95_low_s"], first["delta_ci95_high_s"], first["p_holm"]) == (-0.66, -0.24, 2.2e-5)
    assert (first["selection_level_ci95_low_s"], first["selection_level_p"]) == (-0.62, 1.6e-7)
    assert first["welch_df"] == 9793.1
    # v2 took part in both tests (challenger, then baseline); v1 only in the first.
    assert len(tables.challengers_table(report, "v2")) == 2
    assert list(tables.challengers_table(report, "v1")["challenger"]) == ["v2"]


def test_templates_sorted_by_volume_and_cut_to_top_n(report):
    frame = tables.templates_table(report, 3)
    assert list(frame["template_id"]) == ["T0001", "T0002", "T0003"]
    assert (frame.iloc[0]["treatment_n"], frame.iloc[0]["saving_ci95_low_s"]) == (9610, 7.4)
    everything = tables.templates_table(report)
    assert len(everything) == 8 and everything["volume"].is_monotonic_decreasing
    assert "saving_s: no holdout selections" in everything.iloc[-1]["notes"]
    assert pd.isna(everything.iloc[-1]["saving_ci95_high_s"])


def test_templates_refuse_a_top_n_below_one(report):
    with pytest.raises(ValueError, match="top_n"):
        tables.templates_table(report, 0)


def test_drawn_templates_are_ordered_by_accuracy_as_the_report_tests_them(report):
    drawn = tables.drawn_templates(tables.templates_table(report))
    assert len(drawn) == 7  # T0008 has no holdout selections
    assert drawn["holdout_top5_accuracy"].is_monotonic_increasing


def test_template_trend_is_the_reports_over_the_top_n_drawn(report):
    # The fixture's trend over its top 5 (tau 0.8, worked by hand in tests/test_report_templates.py),
    # not the report's own over its top 8 (tau 0.643).
    trend = tables.template_trend(report, 5)
    assert trend["mann_kendall"]["tau"] == pytest.approx(0.8) and trend["mann_kendall"]["n"] == 5
    assert trend["mann_kendall_hamed_rao"]["method"] == "hamed_rao"
    # more than the report kept: the report's own top 8
    assert tables.template_trend(report, 100)["mann_kendall"]["tau"] == pytest.approx(0.643)


def test_template_trend_of_a_snapshot_without_per_view_trends_says_why(report):
    older = json.loads(json.dumps(report))
    del older["templates"]["trends"]
    assert "press Refresh" in tables.template_trend(older, 5)["mann_kendall"]["missing"]
    assert tables.template_trend(older, 20)["mann_kendall"]["tau"] == pytest.approx(0.643)  # its own top 8


def test_template_trend_missing_one_method_is_empty_not_a_key_error(report):
    partial = json.loads(json.dumps(report))
    del partial["templates"]["trends"][0]["mann_kendall_hamed_rao"]
    trend = tables.template_trend(partial, 5)
    assert trend["mann_kendall"]["tau"] == pytest.approx(0.8) and trend["mann_kendall_hamed_rao"] == {}


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
        tables.srm_table({}),
        tables.daily_events_table({}),
        tables.latency_table({}),
    ):
        assert frame.empty and len(frame.columns) > 0
