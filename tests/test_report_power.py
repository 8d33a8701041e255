"""The report's power of running experiments: the figures worked from the raw selections with numpy."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from abkit.report.build import build_report
from abkit.report.groups import ArmBounds, Window
from abkit.report.power import NoTraffic, experiment_power, recent_window
from abkit.report.power_queries import PowerGroup
from abkit.stats import plan_comparison
from tests.power_events import ARMS, CHALLENGER_START, power_frame, write_power_events


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("power") / "events.sqlite"
    frame = power_frame()
    write_power_events(str(path), frame)
    return str(path), frame


@pytest.fixture(scope="module")
def report(world):
    return build_report(world[0], min_effect_s=0.5)


def _by_hand(frame: pl.DataFrame, experiment: str):
    """Interactions a day, each arm's variance per interaction and the pooled CUPED rho, from raw selections."""
    pre = frame.filter(
        (pl.col("created_at") >= CHALLENGER_START - timedelta(days=28)) & (pl.col("created_at") < CHALLENGER_START)
    )
    grand = pre["selection_time_s"].mean()
    covariate = pre.group_by("advocate_id").agg((pl.col("selection_time_s").mean() - grand).alias("x"))
    rows = frame.filter(pl.col("experiment") == experiment)
    interactions = (
        rows.group_by("arm", "advocate_id", "case_id")
        .agg(pl.len().alias("n"), pl.col("selection_time_s").sum().alias("s"))
        .join(covariate, on="advocate_id", how="left")
        .with_columns(pl.col("x").fill_null(0.0))
    )
    span_days = (rows["created_at"].max() - rows["created_at"].min()).total_seconds() / 86400
    variance, sums = {}, np.zeros(3)
    for arm in interactions["arm"].unique().to_list():
        one = interactions.filter(pl.col("arm") == arm)
        n, s, x = (one[name].to_numpy().astype(float) for name in ("n", "s", "x"))
        nbar = n.mean()
        e = (s - s.sum() / n.sum() * n) / nbar  # linearised ratio mean, per interaction
        d = n * (x - (n * x).sum() / n.sum()) / nbar
        variance[arm] = (e**2).sum() / (len(n) - 1)
        sums += [(e * d).sum(), (e**2).sum(), (d**2).sum()]
    rho = sums[0] / np.sqrt(sums[1] * sums[2])
    return len(interactions) / span_days, variance, rho


def test_running_experiments_are_planned_under_their_recorded_weights(report):
    plans = {plan.experiment: plan for plan in report.power}
    assert set(plans) == {"standing", "v5-test"}  # both have traffic in the last 14 days
    challenger = plans["v5-test"]
    assert challenger.weights == dict(ARMS["v5-test"]) and challenger.weights_from == "phase 1"
    assert challenger.analysis == "sequential"  # the report's default for a challenger test
    pairs = [(c.treatment, c.control) for c in challenger.comparisons]
    assert pairs == [("v4", "holdout"), ("v5", "holdout"), ("v5", "v4")]


def test_traffic_variance_and_rho_match_the_raw_selections(report, world):
    per_day, variance, rho = _by_hand(world[1], "v5-test")
    challenger = next(plan for plan in report.power if plan.experiment == "v5-test")
    assert challenger.traffic.interactions_per_day == pytest.approx(per_day, rel=1e-9)
    assert challenger.cuped.rho == pytest.approx(rho, rel=1e-9)
    assert 0.2 < rho < 0.9  # the advocates' persistent speeds make the pre-period predictive
    share = dict(ARMS["v5-test"])
    for comparison in challenger.comparisons:
        arms = (comparison.treatment, comparison.control)
        expected = plan_comparison(
            arms,
            tuple(share[arm] * per_day for arm in arms),
            tuple(variance[arm] for arm in arms),
            0.5,  # the report plans for its smallest saving worth acting on
            cuped_rho=rho,
        )
        assert comparison.variance_per_interaction_s2 == pytest.approx(expected.variance_per_interaction, rel=1e-9)
        for got, want in zip(comparison.mde_s, expected.horizons, strict=True):
            assert got.fixed == pytest.approx(want.fixed_s, rel=1e-9)
            assert got.sequential_cuped == pytest.approx(want.sequential_cuped_s, rel=1e-9)
        assert comparison.days_to_detect.sequential == pytest.approx(expected.days_to_detect.sequential, rel=1e-9)


def test_the_report_json_carries_the_power_of_each_running_experiment(report):
    document = report.to_dict()
    entry = next(item for item in document["power"] if item["experiment"] == "v5-test")
    assert entry["weights"] == {"holdout": 0.1, "v4": 0.45, "v5": 0.45}
    assert entry["cuped"]["pre_period_days"] == 28.0
    first = entry["comparisons"][0]
    assert [row["days"] for row in first["mde_s"]] == [7.0, 14.0, 28.0]
    assert set(first["mde_s"][0]) >= {"fixed", "cuped", "sequential", "sequential_cuped", "sequential_penalty"}
    assert first["days_to_detect"]["saving_s"] == 0.5
    # the standing experiment began with the events: no pre-period, so no CUPED, and a note says so
    standing = next(item for item in document["power"] if item["experiment"] == "standing")
    assert standing["cuped"]["rho"] is None and standing["comparisons"][0]["mde_s"][0]["cuped"] is None
    assert any("CUPED" in note for note in standing["notes"])


def test_an_experiment_that_stopped_is_not_planned(world):
    old = build_report(world[0], until=CHALLENGER_START)  # before the challenger began
    assert [plan.experiment for plan in old.power] == ["standing"]


def _group(arm: str, k: int, *, sum_y2: float = 50.0) -> PowerGroup:
    first = CHALLENGER_START
    return PowerGroup(
        "e", "v4", arm, k, 2 * k, 0.0, 4.0 * k, sum_y2, 0.0, 10.0, 0, 0, 0, 0, first, first + timedelta(days=7)
    )


def test_an_arm_without_traffic_borrows_the_versions_variance_and_says_so():
    groups = [_group("holdout", 20), _group("v4", 200, sum_y2=400.0)]
    plan = experiment_power(
        "e", groups, 0.5, weights=(("holdout", 0.02), ("v4", 0.49), ("v5", 0.49)), pre_period_days=28
    )
    v5 = next(c for c in plan.comparisons if (c.treatment, c.control) == ("v5", "holdout"))
    v4 = next(c for c in plan.comparisons if (c.treatment, c.control) == ("v4", "holdout"))
    assert v5.variance_per_interaction[0] == v4.variance_per_interaction[0]
    assert any(note.startswith("v5: fewer than 2 interactions") for note in plan.notes)
    assert plan.interactions_per_day == pytest.approx(220 / 7)


def test_too_little_traffic_is_refused_with_a_reason():
    with pytest.raises(NoTraffic, match="1 interaction"):
        experiment_power("e", [_group("v4", 1)], 0.5, pre_period_days=28)
    instant = PowerGroup("e", "v4", "v4", 5, 5, 0.0, 5.0, 1.0, 0.0, 0.0, 0, 0, 0, 0, CHALLENGER_START, CHALLENGER_START)
    with pytest.raises(NoTraffic, match="one instant"):
        experiment_power("e", [instant], 0.5, pre_period_days=28)


def test_the_power_period_of_traffic_in_year_one_starts_at_the_earliest_time():
    """Seven days back from 0001-01-02 lie before year 1: the period is all the traffic there is."""
    bounds = [ArmBounds("e", "v4", "v4", 5, 1.0, datetime(1, 1, 1), datetime(1, 1, 2))]
    assert recent_window(bounds, Window("e"), 7.0) == Window("e", datetime.min, None)


def test_the_power_query_compiles_for_the_warehouses():
    from trino.sqlalchemy.dialect import TrinoDialect

    from abkit.report.groups import Plan, Window
    from abkit.report.power_queries import power_groups_query
    from abkit.report.spark_dialect import SparkDialect

    window = Window("v5-test", CHALLENGER_START, None)
    plan = Plan(shifts=((("v5-test", "v5", "v5"), 12.0),))
    for starts in ({"v5-test": CHALLENGER_START}, {}):
        query = power_groups_query(window, plan, starts, timedelta(days=28))
        for dialect in (TrinoDialect(), SparkDialect()):
            assert "GROUP BY" in str(query.compile(dialect=dialect))
