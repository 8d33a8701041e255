"""The time axis: timeline buckets, phases and the Over time figure (report fixture and small reports)."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dashboards import timeline
from dashboards.timeline_figure import over_time

REPORT = json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())


def _hourly(hours: int, start: str = "2026-12-03T09:00:00") -> dict:
    """A report whose events fall within a few hours, as the walkthrough's do."""
    first = pd.Timestamp(start)
    rows = []
    for hour in range(hours):
        moment = (first + pd.Timedelta(hours=hour)).isoformat()
        ci = {"treatment": [12.5, 13.6], "holdout": [15.0, 23.5]}  # as a report gives them (not symmetric here)
        rows.append(
            {
                "start": moment,
                "arm_kind": "treatment",
                "n": 400,
                "mean_s": 13.0,
                "sd_s": 5.0,
                "mean_ci95_s": ci["treatment"],
            }
        )
        rows.append(
            {"start": moment, "arm_kind": "holdout", "n": 8, "mean_s": 19.0, "sd_s": 5.0, "mean_ci95_s": ci["holdout"]}
        )
    return {
        "timeline": {"grain": "hour", "rows": rows},
        "releases": [{"model_version": "v1", "first_seen": start}],
        "phases": [
            {
                "experiment": "standing",
                "phase": 1,
                "salt": "s",
                "arms": {"holdout": 0.02, "v1": 0.98},
                "started_at": start,
                "ended_at": None,
            },
        ],
    }


def _figure(report: dict):
    return over_time(
        timeline.timeline_table(report),
        timeline.timeline_grain(report),
        timeline.releases_table(report),
        timeline.phases_table(report),
    )


def test_timeline_pairs_arms_and_accumulates_seconds_saved():
    frame = timeline.timeline_table(REPORT)
    assert len(frame) == 7 and timeline.timeline_grain(REPORT) == "week"
    first = frame.iloc[0]
    assert (first["start"], first["mean_with_s"], first["mean_without_s"]) == ("2026-01-05T00:00:00", 13.5, 19.1)
    # (19.1 - 13.5) s * 6,500 selections, worked by hand
    assert first["seconds_saved"] == pytest.approx(36_400.0)
    second = (19.0 - 13.4) * 6560
    assert frame.iloc[1]["cumulative_seconds_saved"] == pytest.approx(36_400.0 + second)


def test_timeline_window_keeps_buckets_starting_inside_it():
    frame = timeline.timeline_table(REPORT, since=date(2026, 1, 19), until=date(2026, 2, 2))
    assert list(frame["start"].str[:10]) == ["2026-01-19", "2026-01-26", "2026-02-02"]
    assert frame.iloc[0]["cumulative_seconds_saved"] == pytest.approx((19.2 - 13.2) * 6900)


def test_timeline_skips_buckets_without_a_holdout_mean():
    report = {
        "timeline": {
            "grain": "hour",
            "rows": [
                {"start": "2026-12-03T09:00:00", "arm_kind": "treatment", "n": 10, "mean_s": 12.0},
                {"start": "2026-12-03T10:00:00", "arm_kind": "treatment", "n": 10, "mean_s": 12.0},
                {"start": "2026-12-03T10:00:00", "arm_kind": "holdout", "n": 2, "mean_s": 20.0},
            ],
        }
    }
    frame = timeline.timeline_table(report)
    assert math.isnan(frame.iloc[0]["seconds_saved"])
    assert list(frame["cumulative_seconds_saved"]) == [0.0, 80.0]


def test_a_report_with_weeks_only_reads_as_a_weekly_timeline():
    report = {"weekly": [{"week_start": "2026-01-05", "arm_kind": "treatment", "n": 5, "mean_s": 12.0}]}
    assert timeline.timeline_grain(report) == "week"
    assert list(timeline.timeline_table(report)["start"]) == ["2026-01-05"]
    assert timeline.timeline_grain({}) is None and timeline.timeline_table({}).empty


def test_phases_table_lists_each_definition_in_force():
    frame = timeline.phases_table(REPORT, "v2-challenger")
    assert list(frame["phase"]) == [1, 2]
    assert list(frame["arms"]) == ["holdout 0.02, v2 0.1, v1 0.88", "holdout 0.02, v1 0.49, v2 0.49"]
    assert len(timeline.phases_table(REPORT)) == 5


def test_version_phases_table_gives_each_phase_its_result():
    frame = timeline.version_phases_table(REPORT, "v2")
    assert list(zip(frame["experiment"], frame["phase"], strict=True)) == [("v2-challenger", 1), ("v2-challenger", 2)]
    first, second = frame.iloc[0], frame.iloc[1]
    assert pd.isna(first["delta_ci95_low_s"]) and "fewer than 2 holdout interactions" in first["notes"]
    assert (second["delta_ci95_low_s"], second["delta_ci95_high_s"], second["srm_p"]) == (-14.1, 0.9, 0.99)
    assert second["weights"] == "holdout 0.02, v1 0.49, v2 0.49"


def test_over_time_has_both_arms_cumulative_saving_phases_and_markers():
    figure = _figure(REPORT)
    names = [trace.name for trace in figure.data]
    assert names == ["with suggestions", "without suggestions (holdout)", "cumulative seconds saved", None]
    bands = figure.data[3]
    assert bands.type == "bar" and list(bands.y) == ["standing"] * 3 + ["v2-challenger"] * 2
    assert bands.text[4] == "phase 2: holdout 0.02, v1 0.49, v2 0.49"
    labels = [a.text for a in figure.layout.annotations if a.text in ("v1", "v2", "v3")]
    assert labels == ["v1", "v2", "v3"]
    dashed = [s for s in figure.layout.shapes if s.line.dash == "dash"]
    dotted = [s for s in figure.layout.shapes if s.line.dash == "dot"]
    # 3 releases; weights changed at standing phases 2, 3 and v2-challenger phase 2.
    assert len(dashed) == 3 and len(dotted) == 3
    assert figure.layout.xaxis.tickformat == "%b %d, %Y"


def test_hourly_buckets_get_hour_ticks_and_a_range_of_whole_buckets():
    figure = _figure(_hourly(5))
    axis = figure.layout.xaxis
    assert axis.tickformat == "%b %d %H:%M" and axis.dtick == 3_600_000
    assert [pd.Timestamp(x) for x in axis.range] == [pd.Timestamp("2026-12-03T08:30"), pd.Timestamp("2026-12-03T13:30")]
    assert len(figure.data[0].x) == 5


def test_one_bucket_still_draws_points_and_its_cumulative_saving():
    figure = _figure(_hourly(1))
    means, _, cumulative = figure.data[:3]
    assert len(means.x) == 1 and "markers" in means.mode
    # A line through one point draws nothing: the cumulative saving has markers too.
    assert "markers" in cumulative.mode and list(cumulative.y) == [pytest.approx((19.0 - 13.0) * 400)]
    # The axis spans one hour around the bucket, ticked and labelled in whole hours, not milliseconds.
    low, high = (pd.Timestamp(x) for x in figure.layout.xaxis.range)
    assert high - low == pd.Timedelta(hours=1)
    assert figure.layout.xaxis.tickformat == "%b %d %H:%M"


def test_many_buckets_get_at_most_about_eight_ticks():
    figure = _figure(_hourly(48))
    assert figure.layout.xaxis.dtick == 6 * 3_600_000  # 48 hours / 8 ticks


def test_over_time_without_a_timeline_says_so():
    figure = _figure({})
    assert figure.data == () and "No timeline" in figure.layout.annotations[0].text


def test_bucket_means_draw_the_reports_95_percent_interval():
    figure = _figure(_hourly(1))
    # the bars reach the report's interval ends: 13.6 - 13.0 above, 13.0 - 12.5 below, and so on
    treatment, holdout = figure.data[0].error_y, figure.data[1].error_y
    assert (treatment.array[0], treatment.arrayminus[0]) == (pytest.approx(0.6), pytest.approx(0.5))
    assert (holdout.array[0], holdout.arrayminus[0]) == (pytest.approx(4.5), pytest.approx(4.0))
    assert _figure(REPORT).data[0].error_y.visible is False  # the fixture's rows give no interval


def test_a_phase_still_in_force_ends_at_its_experiments_last_selection():
    # a finished challenger test: its last phase has no end, its last selection was on Jan 18
    report = json.loads(json.dumps(REPORT))
    report["phases"][4]["ended_at"] = None
    frame = timeline.phases_table(report)
    assert list(frame["last_selection_at"]) == ["2026-02-22T23:59:00"] * 3 + ["2026-01-18T23:59:00"] * 2
    bands = _figure(report).data[3]
    lengths = pd.to_timedelta(list(bands.x), unit="ms")
    ends = pd.to_datetime(list(bands.base)) + lengths
    # v2-challenger phase 2 stops at its last selection, not at the end of the axis (late February)
    assert ends[4] == pd.Timestamp("2026-01-18T23:59:00")
    # standing's open phase 3 stops at standing's last selection
    assert ends[2] == pd.Timestamp("2026-02-22T23:59:00")
