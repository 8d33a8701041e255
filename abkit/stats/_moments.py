"""The mean, variance of the mean and degrees of freedom of one arm, from either kind of summary."""

from __future__ import annotations

from dataclasses import dataclass

from abkit.stats.cluster import ClusterSummary
from abkit.stats.summary import SampleSummary


@dataclass(frozen=True)
class StratifiedSummary:
    """An arm's stratified mean (held as shift + offset), its variance of the mean and its dof.

    Attributes:
        shift: The common shift of the strata's sums (the mean is shift + offset).
        offset: Σ w_p (mean_p - shift).
        variance_of_mean: Σ w_p² v_p; None when a stratum's variance cannot be estimated.
        dof: Welch-Satterthwaite degrees of freedom of the combined variance; None with it.
        units: Randomisation units (interactions, or selections) over all strata.
        missing: Why variance_of_mean is None, else None.
    """

    shift: float
    offset: float
    variance_of_mean: float | None
    dof: float | None
    units: int
    missing: str | None = None


ArmSummary = SampleSummary | ClusterSummary | StratifiedSummary


@dataclass(frozen=True)
class ArmMoments:
    """Mean split as shift + offset (so differences of means keep their precision), its variance, its dof."""

    shift: float
    offset: float
    variance_of_mean: float
    dof: float


def arm_moments(summary: ArmSummary, label: str) -> ArmMoments | str:
    """Return the arm's moments, or a reason why they cannot be computed (naming the arm by `label`).

    A SampleSummary gives variance / n with n - 1 dof; a ClusterSummary gives the delta-method
    variance with k - 1 dof (k clusters), so the Welch-Satterthwaite df counts randomisation units.
    """
    if isinstance(summary, SampleSummary):
        variance = summary.variance
        if variance is None:
            return f"no selections in {label}" if summary.n == 0 else f"n = 1 in {label}"
        return ArmMoments(summary.shift, summary.total / summary.n, variance / summary.n, summary.n - 1)
    if isinstance(summary, ClusterSummary):
        variance = summary.variance_of_mean
        if variance is None:
            return f"no interactions in {label}" if summary.k == 0 else f"only 1 interaction in {label}"
        return ArmMoments(summary.shift, summary.sum_y / summary.sum_n, variance, summary.k - 1)
    if isinstance(summary, StratifiedSummary):
        if summary.variance_of_mean is None or summary.dof is None:
            return summary.missing or f"no variance in {label}"
        return ArmMoments(summary.shift, summary.offset, summary.variance_of_mean, summary.dof)
    raise TypeError(
        f"{label} must be a SampleSummary, ClusterSummary or StratifiedSummary, got {type(summary).__name__}"
    )


def arm_mean(summary: ArmSummary) -> tuple[float, float] | None:
    """(shift, offset) of the arm's mean, or None when the arm is empty."""
    if isinstance(summary, SampleSummary):
        return None if summary.n == 0 else (summary.shift, summary.total / summary.n)
    if isinstance(summary, ClusterSummary):
        return None if summary.sum_n == 0 else (summary.shift, summary.sum_y / summary.sum_n)
    if isinstance(summary, StratifiedSummary):
        return None if summary.units == 0 else (summary.shift, summary.offset)
    raise TypeError(f"expected a SampleSummary, ClusterSummary or StratifiedSummary, got {type(summary).__name__}")


def mean_difference(first: tuple[float, float], second: tuple[float, float]) -> float:
    """first - second for means held as (shift, offset): shifts subtract first, exactly when close."""
    return (first[0] - second[0]) + (first[1] - second[1])
