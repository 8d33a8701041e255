"""One arm's mean combined across strata (experiment phases), weighted by stratum size.

When an experiment's weights change (a ramp), the arms' shares change with time, so pooling the
phases' selections would confound time with arm. The stratified estimator compares arms within
each phase and combines the phases with fixed weights w_p (each phase's share of the units, as
post-stratification does):

    mean = Σ_p w_p · mean_p,   Var(mean) = Σ_p w_p² · v_p

with v_p each phase's variance of its mean (interaction level: `ClusterSummary.variance_of_mean`),
and Welch-Satterthwaite degrees of freedom  d = (Σ w_p² v_p)² / Σ (w_p² v_p)² / d_p. With one
stratum (w = 1) every figure is exactly that stratum's, so `mean_delta` and `clustered_welch` of a
`StratifiedSummary` of one phase equal those of the phase's `ClusterSummary`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from abkit.stats._checks import finite
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


def _units(summary: SampleSummary | ClusterSummary) -> int:
    return summary.k if isinstance(summary, ClusterSummary) else summary.n


def _offset(summary: SampleSummary | ClusterSummary) -> float:
    """The stratum's mean minus its shift (the arm must be non-empty)."""
    if isinstance(summary, ClusterSummary):
        return summary.sum_y / summary.sum_n
    return summary.total / summary.n


def _variance(summary: SampleSummary | ClusterSummary, label: str) -> tuple[float, float] | str:
    """(variance of the mean, dof) of one stratum, or why it cannot be estimated."""
    if isinstance(summary, ClusterSummary):
        variance = summary.variance_of_mean
        return f"only 1 interaction in {label}" if variance is None else (variance, summary.k - 1)
    sample_variance = summary.variance
    return f"n = 1 in {label}" if sample_variance is None else (sample_variance / summary.n, summary.n - 1)


def stratified_summary(
    strata: Sequence[SampleSummary | ClusterSummary],
    weights: Sequence[float],
    labels: Sequence[str] | None = None,
) -> StratifiedSummary | None:
    """Combine one arm's strata with the given weights (normalised to sum to 1).

    Args:
        strata: The arm's summary in each stratum, all non-empty and of one kind.
        weights: Positive weight of each stratum (e.g. its units in both arms).
        labels: Names of the strata for `missing` reasons (default "stratum 1", ...).

    Returns:
        The combined summary, or None when there are no strata.

    Raises:
        ValueError: For mismatched lengths, an empty stratum, or a weight that is not positive and finite.
    """
    if len(strata) != len(weights):
        raise ValueError(f"{len(strata)} strata but {len(weights)} weights")
    if not strata:
        return None
    names = list(labels) if labels is not None else [f"stratum {i + 1}" for i in range(len(strata))]
    total_weight = 0.0
    for weight in weights:
        if finite(weight, "weight") <= 0:
            raise ValueError(f"stratum weights must be > 0, got {weight!r}")
        total_weight += weight
    shift = strata[0].shift
    offset = 0.0
    variance = 0.0
    satterthwaite = 0.0
    missing = None
    for summary, weight, name in zip(strata, weights, names, strict=True):
        if _units(summary) == 0 or (isinstance(summary, ClusterSummary) and summary.sum_n == 0):
            raise ValueError(f"{name} is empty: pass only strata with units in the arm")
        share = weight / total_weight
        # re-centre on the first stratum's shift: (shift_p - shift) is exact when shifts are equal
        offset += share * ((summary.shift - shift) + _offset(summary))
        moments = _variance(summary, name)
        if isinstance(moments, str):
            missing = missing or moments
            continue
        part = share * share * moments[0]
        variance += part
        satterthwaite += part * part / moments[1] if moments[1] > 0 else math.inf
    units = sum(_units(s) for s in strata)
    if missing is not None:
        return StratifiedSummary(shift, offset, None, None, units, missing)
    if variance == 0:
        # every stratum constant: no spread to estimate a dof from; Welch reports zero variance
        return StratifiedSummary(shift, offset, 0.0, float(units - len(strata)) or 1.0, units)
    return StratifiedSummary(shift, offset, variance, variance * variance / satterthwaite, units)
