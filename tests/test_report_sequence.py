"""The confidence sequence of each result as of the end of every time bucket.

Expected values: the whole window's sequence and CUPED figures of the same report (the last look is
that figure, so they agree to 1e-9), sequential_delta / stratified_summary on the interactions
summed in numpy, and seeded simulations for narrowing and coverage of the true delta.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from abkit.events import EventStore
from abkit.report.build import build_report
from abkit.report.groups import Plan
from abkit.report.online_sequence import GrainGroup, confidence_sequence_by_bucket
from abkit.stats import ClusterSummary, clustered_welch, confidence_sequence, sequential_delta, stratified_summary
from tests.test_report_online import START, _events, _report

DAY = Plan(grain="day")


def _challenger(report: dict) -> dict:
    (comparison,) = [c for c in report["comparisons"] if c["experiment"] == "challenger"]
    return comparison


def test_last_look_is_the_whole_window_figure(tmp_path):
    report = _report(tmp_path, _events())
    comparison = _challenger(report)
    sequence = comparison["sequence"]
    # the verdict reads the CUPED-adjusted sequence, so the looks are adjusted too
    assert comparison["sequence_cuped"] is True
    whole = comparison["cuped"]["sequential"]
    last = sequence[-1]
    assert last["delta_s"] == pytest.approx(whole["delta_s"], rel=1e-9)
    assert last["delta_ci95_s"] == pytest.approx(whole["delta_ci95_s"], rel=1e-9)
    assert last["p"] == pytest.approx(whole["p"], rel=1e-9)
    assert last["interactions"] == whole["interactions"]
    # one look per day with interactions, each at the end of its day (UTC midnight)
    ends = [datetime.fromisoformat(point["end"]) for point in sequence]
    assert ends == sorted(set(ends)) and all(end.time() == datetime.min.time() for end in ends)
    assert ends[0] == START + timedelta(days=1) and ends[-1] <= START + timedelta(days=11)
    counts = [point["interactions"] for point in sequence]
    assert counts == sorted(counts) and counts[0] > 0
    # a version against its holdout has a sequence too (v2 has none: the holdout ran under v1)
    versions = {v["model_version"]: v for v in report["versions"] if v["experiment"] == "challenger"}
    assert versions["v1"]["sequence"][-1]["delta_ci95_s"] == pytest.approx(
        versions["v1"]["cuped"]["sequential"]["delta_ci95_s"], rel=1e-9
    )
    assert versions["v2"]["sequence"] == [] and versions["v2"]["sequence_cuped"] is False


def test_hourly_looks_when_the_data_spans_hours(tmp_path):
    frames = _events(interactions=400)
    # keep the challenger's first 40 hours only: the report's grain becomes the hour
    selection = frames["selection"]
    frames["selection"] = selection.filter(
        (selection["created_at"] >= START) & (selection["created_at"] < START + timedelta(hours=40))
    )
    report = _report(tmp_path, frames)
    assert report["timeline"]["grain"] == "hour"
    sequence = _challenger(report)["sequence"]
    ends = [datetime.fromisoformat(point["end"]) for point in sequence]
    assert 20 < len(ends) <= 41 and all(end.minute == 0 and end.second == 0 for end in ends)
    comparison = _challenger(report)
    assert sequence[-1]["delta_ci95_s"] == pytest.approx(comparison["cuped"]["sequential"]["delta_ci95_s"], rel=1e-9)


# -- the looks from grain groups, against the stats on the interactions -------------------------


def _grain_groups(
    arm: str, phase: np.ndarray, day: np.ndarray, counts: np.ndarray, sums: np.ndarray
) -> list[GrainGroup]:
    """GrainGroups of one arm (no covariate) from per-interaction phase, day, n_i and y_i."""
    groups = []
    for p in np.unique(phase):
        for d in np.unique(day[phase == p]):
            keep = (phase == p) & (day == d)
            n, y = counts[keep], sums[keep]
            groups.append(
                GrainGroup(
                    "e",
                    int(p),
                    "v1",
                    arm,
                    START + timedelta(days=int(d)),
                    int(keep.sum()),
                    int(n.sum()),
                    float(y.sum()),
                    float((n * n).sum()),
                    float((y * y).sum()),
                    float((n * y).sum()),
                    0,
                    0.0,
                    0.0,
                    0.0,
                    0.0,
                )
            )
    return groups


def _interactions(rng: np.random.Generator, size: int, mean_s: float, days: int) -> dict[str, np.ndarray]:
    """Interactions with 1-4 selections each and an interaction effect (selections are clustered)."""
    counts = rng.integers(1, 5, size)
    effect = rng.normal(0.0, 2.0, size)
    noise = rng.normal(0.0, 3.0, counts.sum())
    owner = np.repeat(np.arange(size), counts)
    sums = np.bincount(owner, weights=mean_s + effect[owner] + noise, minlength=size)
    return {"day": rng.integers(0, days, size), "counts": counts, "sums": sums}


def test_unadjusted_looks_equal_the_stats_on_the_interactions_begun_by_then():
    rng = np.random.default_rng(7)
    treatment, control = _interactions(rng, 600, 13.0, 5), _interactions(rng, 300, 14.0, 5)
    phase_t, phase_c = np.ones(600, dtype=int), np.ones(300, dtype=int)
    points = confidence_sequence_by_bucket(
        _grain_groups("v1", phase_t, treatment["day"], treatment["counts"], treatment["sums"]),
        _grain_groups("holdout", phase_c, control["day"], control["counts"], control["sums"]),
        shifts=(0.0, 0.0),
        phases=[1],
        plan=DAY,
        labels=("v1", "holdout"),
        adjusted=False,
        n_star=1000,
    )
    assert len(points) == 5
    for d, point in enumerate(points):
        arms = [
            ClusterSummary.from_clusters(arm["counts"][arm["day"] <= d], arm["sums"][arm["day"] <= d], 0.0)
            for arm in (treatment, control)
        ]
        expected = sequential_delta(arms[0], arms[1], n_star=1000)
        assert point.end == START + timedelta(days=d + 1)
        assert point.look.ci95_s == pytest.approx(expected.ci95_s, rel=1e-9)
        assert point.look.p == pytest.approx(expected.p, rel=1e-9)
        assert point.look.units == expected.units


def test_looks_combine_the_phases_reached_so_far_weighted_by_their_interactions():
    rng = np.random.default_rng(8)
    treatment, control = _interactions(rng, 500, 12.0, 4), _interactions(rng, 400, 14.0, 4)
    # phase 2 begins on day 2 (a ramp); phase 3 exists but the result does not combine it
    phase_t, phase_c = np.where(treatment["day"] >= 2, 2, 1), np.where(control["day"] >= 2, 2, 1)
    phase_t[:20] = 3
    points = confidence_sequence_by_bucket(
        _grain_groups("v1", phase_t, treatment["day"], treatment["counts"], treatment["sums"]),
        _grain_groups("holdout", phase_c, control["day"], control["counts"], control["sums"]),
        shifts=(0.0, 0.0),
        phases=[1, 2],
        plan=DAY,
        labels=("v1", "holdout"),
        adjusted=False,
        n_star=1000,
    )
    last = points[-1].look
    strata = []
    for arm, phase in ((treatment, phase_t), (control, phase_c)):
        strata.append(
            [ClusterSummary.from_clusters(arm["counts"][phase == p], arm["sums"][phase == p], 0.0) for p in (1, 2)]
        )
    weights = [strata[0][j].k + strata[1][j].k for j in (0, 1)]
    combined = [stratified_summary(strata[side], weights) for side in (0, 1)]
    welch = clustered_welch(combined[0], combined[1])
    expected = confidence_sequence(welch.delta, welch.se**2, sum(weights), n_star=1000)
    assert last.ci95_s == pytest.approx(expected.ci95_s, rel=1e-9)
    assert last.units == sum(weights)
    # before phase 2 began only phase 1 counts
    first_days = [
        ClusterSummary.from_clusters(
            a["counts"][(p == 1) & (a["day"] == 0)], a["sums"][(p == 1) & (a["day"] == 0)], 0.0
        )
        for a, p in ((treatment, phase_t), (control, phase_c))
    ]
    assert points[0].look.ci95_s == pytest.approx(sequential_delta(*first_days, n_star=1000).ci95_s, rel=1e-9)


def test_looks_narrow_and_cover_the_true_delta_in_simulated_tests():
    """200 simulated 14-day tests, true delta -0.5 s: the band narrows look by look and covers -0.5 at every look in >= 95% of tests."""
    rng = np.random.default_rng(18)
    true_delta, days, covered, narrowing, shrink, stops = -0.5, 14, 0, 0, [], []
    for _ in range(200):
        treatment, control = _interactions(rng, 1400, 13.5, days), _interactions(rng, 1400, 14.0, days)
        points = confidence_sequence_by_bucket(
            _grain_groups("v1", np.ones(1400, dtype=int), treatment["day"], treatment["counts"], treatment["sums"]),
            _grain_groups("holdout", np.ones(1400, dtype=int), control["day"], control["counts"], control["sums"]),
            shifts=(0.0, 0.0),
            phases=[1],
            plan=DAY,
            labels=("v1", "holdout"),
            adjusted=False,
            n_star=1000,
        )
        bands = [point.look.ci95_s for point in points]
        covered += all(low <= true_delta <= high for low, high in bands)
        widths = np.array([high - low for low, high in bands])
        narrowing += bool(np.all(np.diff(widths) < 0))
        shrink.append(widths[-1] / widths[0])
        stops.append(next((day for day, (low, high) in enumerate(bands, start=1) if high < 0 or low > 0), None))
    # a confidence sequence covers at every look with probability >= 95% (asymptotically)
    assert covered / 200 >= 0.95
    # more interactions, narrower band: every look narrower than the one before in most tests, and
    # 14 days' band about sqrt(14) narrower than the first day's: se ~ 1/sqrt(N) with 14 times the
    # interactions (the boundary's factor is near its minimum from n_star = 1,000 on; 0.246 here)
    assert narrowing / 200 >= 0.9
    assert float(np.median(shrink)) == pytest.approx(1 / np.sqrt(14), abs=0.04)
    # a real saving stops most tests early: 183 of 200 exclude 0 before their last day, half by day 6
    early = [stop for stop in stops if stop is not None and stop < days]
    assert len(early) >= 170
    assert float(np.median([days + 1 if stop is None else stop for stop in stops])) <= 7


# -- backends: the same looks from SQLite, DuckDB and PostgreSQL -----------------------------


def _same_sequences(url, tmp_path):
    frames = _events()
    sqlite_report = _report(tmp_path, frames)
    store = EventStore.open(url)
    for kind in ("selection", "case"):
        store.write(kind, frames[kind])
    other = build_report(url, now=datetime(2026, 4, 1)).to_dict()
    compared = 0
    for key in ("versions", "comparisons"):
        for mine, theirs in zip(other[key], sqlite_report[key], strict=True):
            assert mine["sequence_cuped"] == theirs["sequence_cuped"]
            assert len(mine["sequence"]) == len(theirs["sequence"])
            for left, right in zip(mine["sequence"], theirs["sequence"], strict=True):
                assert left["end"] == right["end"] and left["interactions"] == right["interactions"]
                assert left["delta_ci95_s"] == pytest.approx(right["delta_ci95_s"], rel=1e-9)
                assert left["p"] == pytest.approx(right["p"], rel=1e-9)
                compared += 1
    assert compared >= 20


def test_duckdb_gives_the_sqlite_sequences(tmp_path):
    _same_sequences(f"duckdb:///{tmp_path / 'events.duckdb'}", tmp_path)


@pytest.mark.postgres
def test_postgres_gives_the_sqlite_sequences(postgres_url, tmp_path):
    _same_sequences(postgres_url, tmp_path)


def test_looks_follow_the_results_own_span_day_by_day_or_week_by_week():
    rng = np.random.default_rng(9)
    kwargs = {"shifts": (0.0, 0.0), "phases": [1], "plan": DAY, "labels": ("v1", "holdout"), "adjusted": False}
    # a two-week challenger is read day by day, whatever else the report covers
    short = [_interactions(rng, 700, mean, 14) for mean in (13.0, 14.0)]
    points = confidence_sequence_by_bucket(
        *(
            _grain_groups(arm, np.ones(700, dtype=int), a["day"], a["counts"], a["sums"])
            for arm, a in zip(("v1", "holdout"), short, strict=True)
        ),
        n_star=1000,
        **kwargs,
    )
    assert [p.end for p in points] == [START + timedelta(days=d + 1) for d in range(14)]
    # a 200-day holdout comparison by the ISO week (START is a Monday): looks at the end of each week
    long = [_interactions(rng, 3000, mean, 200) for mean in (13.0, 14.0)]
    points = confidence_sequence_by_bucket(
        *(
            _grain_groups(arm, np.ones(3000, dtype=int), a["day"], a["counts"], a["sums"])
            for arm, a in zip(("v1", "holdout"), long, strict=True)
        ),
        n_star=1000,
        **kwargs,
    )
    assert START.weekday() == 0
    assert [p.end for p in points] == [START + timedelta(weeks=w + 1) for w in range(29)]
    assert points[-1].look.units == 6000
