"""The simulated world's experiment phases: recorded at their simulated times, and followed by its events."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from scipy.stats import chisquare

from abkit.events import columns as c
from abkit.events.phases import PhaseError
from abkit.events.store import EventStore
from abkit.simulate.model import build_world_model
from abkit.simulate.run import simulate_into
from abkit.simulate.settings import settings_for_scale
from abkit.simulate.timeline import build_timeline, experiment_phases
from abkit.simulate.world import iter_blocks
from abkit.stats.srm import DEFAULT_SRM_THRESHOLD

SEED = 8
RAMP = settings_for_scale(60_000, challenger_ramp_days=4)
START = RAMP.start


def _day(n: int) -> datetime:
    return START + timedelta(days=n)


def test_a_ramped_challenger_test_is_two_periods_with_the_same_salt():
    periods = [p for p in build_timeline(RAMP) if p.experiment.name == "v2-challenger"]
    assert [(p.start_day, p.end_day) for p in periods] == [(60, 64), (64, 74)]
    assert [p.experiment.arms for p in periods] == [
        (("holdout", 0.02), ("v1", 0.88), ("v2", 0.1)),
        (("holdout", 0.02), ("v1", 0.49), ("v2", 0.49)),
    ]
    assert {p.experiment.salt for p in periods} == {"v2-challenger"}


def test_phases_start_at_each_release_and_each_challenger_step():
    phases = [(at, config.name, config.arms) for at, config in experiment_phases(RAMP, build_timeline(RAMP))]
    assert phases == [
        (_day(0), "standing", (("holdout", 0.02), ("v1", 0.98))),
        (_day(60), "v2-challenger", (("holdout", 0.02), ("v1", 0.88), ("v2", 0.1))),
        (_day(64), "v2-challenger", (("holdout", 0.02), ("v1", 0.49), ("v2", 0.49))),
        (_day(74), "standing", (("holdout", 0.02), ("v2", 0.98))),
        (_day(140), "v3-challenger", (("holdout", 0.02), ("v2", 0.88), ("v3", 0.1))),
        (_day(144), "v3-challenger", (("holdout", 0.02), ("v2", 0.49), ("v3", 0.49))),
        (_day(154), "standing", (("holdout", 0.02), ("v3", 0.98))),
        (_day(220), "v4-challenger", (("holdout", 0.02), ("v3", 0.88), ("v4", 0.1))),
        (_day(224), "v4-challenger", (("holdout", 0.02), ("v3", 0.49), ("v4", 0.49))),
        (_day(234), "standing", (("holdout", 0.02), ("v4", 0.98))),
    ]


def test_ramp_settings_are_checked():
    with pytest.raises(ValueError, match=r"challenger_ramp_days: must be in \[0, challenger_days = 14\), got 14"):
        settings_for_scale("small", challenger_ramp_days=14)
    with pytest.raises(ValueError, match="challenger_ramp_weight: must be above 0 and below half"):
        settings_for_scale("small", challenger_ramp_days=3, challenger_ramp_weight=0.5)


@pytest.fixture(scope="module")
def interactions() -> pl.DataFrame:
    """One row per interaction: its experiment, arm and the time of its first suggestion request."""
    model = build_world_model(RAMP, SEED)
    frames = [part.predictions for block in iter_blocks(model, SEED) for part in block.parts]
    return (
        pl.concat(frames)
        .group_by(c.EXPERIMENT, c.ADVOCATE_ID, c.CASE_ID)
        .agg(pl.col(c.ARM).first(), pl.col(c.ARM).n_unique().alias("arms"), pl.col(c.CREATED_AT).min())
    )


def test_every_interaction_has_the_arm_of_the_definition_in_force_when_it_started(interactions):
    assert (interactions["arms"] == 1).all()
    phases = experiment_phases(RAMP, build_timeline(RAMP))
    checked = 0
    for experiment, rows in interactions.group_by(c.EXPERIMENT):
        starts = [(at, config) for at, config in phases if config.name == experiment[0]]
        for (start, config), (end, _) in zip(starts, [*starts[1:], (datetime.max, None)], strict=True):
            units = rows.filter((pl.col(c.CREATED_AT) >= start) & (pl.col(c.CREATED_AT) < end))
            expected = config.assign_many(units[c.ADVOCATE_ID].to_list(), units[c.CASE_ID].to_list())
            assert units[c.ARM].to_list() == expected, (config.name, config.arms)
            checked += units.height
    assert checked == interactions.height


def _counts(rows: pl.DataFrame, arms: tuple[tuple[str, float], ...]) -> list[int]:
    observed = dict(rows.group_by(c.ARM).len().iter_rows())
    return [observed.get(arm, 0) for arm, _ in arms]


def test_each_phase_passes_its_own_srm_check_and_fails_the_last_phases_weights(interactions):
    for number in (2, 3, 4):
        experiment = f"v{number}-challenger"
        rows = interactions.filter(pl.col(c.EXPERIMENT) == experiment)
        (ramp_start, ramp), (full_start, full) = [
            (at, config) for at, config in experiment_phases(RAMP, build_timeline(RAMP)) if config.name == experiment
        ]
        ramp_rows = rows.filter(pl.col(c.CREATED_AT) < full_start)
        full_rows = rows.filter(pl.col(c.CREATED_AT) >= full_start)
        assert ramp_rows.height > 150 and full_rows.height > 600
        for phase_rows, config in ((ramp_rows, ramp), (full_rows, full)):
            counts = _counts(phase_rows, config.arms)
            expected = [w * phase_rows.height for _, w in config.arms]
            assert chisquare(counts, expected).pvalue > DEFAULT_SRM_THRESHOLD, (experiment, config.arms, counts)
        # The whole test against the last weights only (what a report without phases did): a false alarm.
        counts = _counts(rows, full.arms)
        flagged = chisquare(counts, [w * rows.height for _, w in full.arms]).pvalue < DEFAULT_SRM_THRESHOLD
        assert flagged, (experiment, counts)
        challenger_share = _counts(ramp_rows, ramp.arms)[2] / ramp_rows.height
        assert challenger_share == pytest.approx(0.10, abs=0.05)


def test_simulating_records_the_phases_once(sqlite_url):
    settings = settings_for_scale(3_000, challenger_ramp_days=4)
    store = EventStore.open(sqlite_url)
    simulate_into(store, settings, seed=3, progress=False)
    phases = store.experiment_phases()
    assert [(p.experiment, p.phase, p.started_at) for p in phases] == [
        ("standing", 1, _day(0)),
        ("standing", 2, _day(74)),
        ("standing", 3, _day(154)),
        ("standing", 4, _day(234)),
        ("v2-challenger", 1, _day(60)),
        ("v2-challenger", 2, _day(64)),
        ("v3-challenger", 1, _day(140)),
        ("v3-challenger", 2, _day(144)),
        ("v4-challenger", 1, _day(220)),
        ("v4-challenger", 2, _day(224)),
    ]
    assert store.registered_experiments()["v4-challenger"] == (
        "v4-challenger",
        [("holdout", 0.02), ("v3", 0.49), ("v4", 0.49)],
    )
    # The same world again, and another seed of it: the phases are already there.
    simulate_into(store, settings, seed=3, progress=False)
    simulate_into(store, settings, seed=4, progress=False)
    assert store.experiment_phases() == phases


def test_a_world_that_starts_before_the_stored_phases_is_refused(sqlite_url):
    store = EventStore.open(sqlite_url)
    simulate_into(store, settings_for_scale(1_000), seed=3, progress=False)
    earlier = settings_for_scale(1_000, start=datetime(2025, 1, 6))
    with pytest.raises(PhaseError, match="before its phase 4 started"):
        simulate_into(store, earlier, seed=3, progress=False)


def test_the_report_finds_each_phase_of_a_ramped_world_in_ratio(sqlite_url):
    from abkit.report.build import build_report

    store = EventStore.open(sqlite_url)
    simulate_into(store, settings_for_scale(30_000, challenger_ramp_days=4), seed=SEED, progress=False)
    report = build_report(store.engine).to_dict()
    tested = [(row["experiment"], row["phase"], row["flag"]) for row in report["srm_by_experiment"]]
    # Every recorded phase is checked against its own weights, and none is flagged.
    assert sorted((e, p) for e, p, _ in tested) == sorted((p.experiment, p.phase) for p in store.experiment_phases())
    assert not any(flag for _, _, flag in tested), report["srm_by_experiment"]
    challengers = {c["experiment"]: c for c in report["comparisons"]}
    assert [len(challengers[f"v{n}-challenger"]["phases"]) for n in (2, 3, 4)] == [2, 2, 2]
