"""The confidence sequence of a result as of the end of each time bucket, so a test's stopping is visible.

A confidence sequence may be read at every look (abkit.stats.sequential); this module computes the
looks a team would have taken, one per bucket of the timeline's grain (hour, day or week) for the
result's own span. Each interaction counts from the bucket of its first selection, like its phase: the look at the end of
bucket b uses every interaction that began by then, each with all its selections in the window (so
the look is what a report over the window, restricted to those interactions, gives). The sums of
the buckets accumulate in Python (``ClusterSummary.__add__``, ``CupedSummary.__add__``) and every
look combines phases, and adjusts by the CUPED covariate, as the result's whole-window figure does;
the last look is that figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from abkit.report.groups import Plan
from abkit.report.timeline import GRAIN_LENGTH, display_grain
from abkit.stats import (
    ClusterSummary,
    CupedSummary,
    SequentialResult,
    clustered_welch,
    confidence_sequence,
    stratified_cuped_delta,
    stratified_summary,
)


@dataclass(frozen=True)
class GrainGroup:
    """Interactions of one (experiment, phase, model_version, arm) that began in one bucket (see online_queries).

    ``k``, ``n``, ``total``, ``sum_n2``, ``sum_y2``, ``sum_ny`` are a :class:`abkit.stats.ClusterSummary`'s
    sums about the arm's shift; ``sum_nx`` ... ``sum_nxy`` the covariate sums of a
    :class:`abkit.stats.CupedSummary`; ``with_history`` the interactions whose advocate has a covariate.
    """

    experiment: str
    phase: int
    model_version: str
    arm: str
    start: datetime
    k: int
    n: int
    total: float
    sum_n2: float
    sum_y2: float
    sum_ny: float
    with_history: int
    sum_nx: float
    sum_n2x: float
    sum_n2x2: float
    sum_nxy: float
    # the selections' sum of (x - shift)^2 and first/last selection: the arm groups are these buckets' roll-up
    total_sq: float = 0.0
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def summary(self, shift: float) -> CupedSummary:
        """The bucket's sums as a CupedSummary (interaction sums about ``shift``, the arm's)."""
        clusters = ClusterSummary(self.k, self.n, self.total, self.sum_n2, self.sum_y2, self.sum_ny, shift)
        return CupedSummary(clusters, self.sum_nx, self.sum_n2x, self.sum_n2x2, self.sum_nxy)


@dataclass(frozen=True)
class SequencePoint:
    """The confidence sequence of a result as of ``end`` (the end of a bucket)."""

    end: datetime
    look: SequentialResult


def _look(
    strata: dict[int, list[CupedSummary]],
    phases: Sequence[int],
    labels: tuple[str, str],
    adjusted: bool,
    n_star: int,
) -> SequentialResult:
    """One look: the phases both arms reached so far, weighted by their interactions, as the primary delta."""
    shared = [p for p in phases if p in strata and strata[p][0].clusters.k > 0 and strata[p][1].clusters.k > 0]
    if not shared:
        missing = f"no interactions in both {labels[0]} and {labels[1]} yet"
        return SequentialResult(None, None, None, n_star, missing, 0)
    pairs = [(strata[p][0], strata[p][1]) for p in shared]
    weights = [float(t.clusters.k + c.clusters.k) for t, c in pairs]
    units = int(sum(weights))
    if adjusted:
        return stratified_cuped_delta(pairs, weights, labels, [f"phase {p}" for p in shared]).sequential(n_star)
    arms = [
        stratified_summary([pair[side].clusters for pair in pairs], weights, [f"{label} (phase {p})" for p in shared])
        for side, label in enumerate(labels)
    ]
    assert arms[0] is not None and arms[1] is not None
    welch = clustered_welch(arms[0], arms[1], labels)
    if welch.delta is None or welch.se is None:
        return SequentialResult(welch.delta, None, None, n_star, welch.missing, units)
    return confidence_sequence(welch.delta, welch.se * welch.se, units, n_star)


def confidence_sequence_by_bucket(
    treatment: Sequence[GrainGroup],
    control: Sequence[GrainGroup],
    shifts: tuple[float, float],
    phases: Sequence[int],
    plan: Plan,
    *,
    labels: tuple[str, str],
    adjusted: bool,
    n_star: int,
) -> tuple[SequencePoint, ...]:
    """The result's confidence sequence at the end of every bucket in which an interaction began.

    Args:
        treatment: The treatment arm's grain groups (every phase and bucket).
        control: The control arm's grain groups.
        shifts: The shift of each arm's sums (treatment, control).
        phases: The phases the result's whole-window delta combines (others are left out).
        plan: The plan of the queries (their hour or day buckets). The looks are at the timeline's grain
            for the result's own span (:func:`abkit.report.timeline.display_grain`): a two-week
            challenger test is read day by day even in a year of data, a year-long holdout by the week.
        labels: Names of the arms for missing reasons.
        adjusted: CUPED-adjusted looks (when the result's sequential verdict reads the adjusted sequence).
        n_star: Tuning of the sequence.
    """
    arms = [[g for g in groups if g.phase in phases] for groups in (treatment, control)]
    grain, start_of = display_grain([g.start for groups in arms for g in groups], plan)
    additions: dict[datetime, list[tuple[int, int, CupedSummary]]] = {}
    for side, groups in enumerate(arms):
        for g in groups:
            additions.setdefault(start_of(g.start), []).append((g.phase, side, g.summary(shifts[side])))
    strata: dict[int, list[CupedSummary]] = {}
    points = []
    for start in sorted(additions):
        for phase, side, summary in additions[start]:
            pair = strata.setdefault(phase, [_empty(shifts[0]), _empty(shifts[1])])
            pair[side] = pair[side] + summary
        points.append(SequencePoint(start + GRAIN_LENGTH[grain], _look(strata, phases, labels, adjusted, n_star)))
    return tuple(points)


def _empty(shift: float) -> CupedSummary:
    return CupedSummary(ClusterSummary.empty(shift), 0.0, 0.0, 0.0, 0.0)
