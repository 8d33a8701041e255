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

from abkit.stats._checks import finite, relative_to_largest
from abkit.stats._moments import StratifiedSummary, arm_mean, arm_moments
from abkit.stats.cluster import ClusterSummary
from abkit.stats.summary import SampleSummary

__all__ = ["StratifiedSummary", "stratified_summary"]


def _units(summary: SampleSummary | ClusterSummary) -> int:
    return summary.k if isinstance(summary, ClusterSummary) else summary.n


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
    checked = [finite(weight, "weight") for weight in weights]
    for weight, given in zip(checked, weights, strict=True):
        if weight <= 0:
            raise ValueError(f"stratum weights must be > 0, got {given!r}")
    # relative to the largest, so that their total cannot overflow (normalising changes nothing)
    checked = relative_to_largest(checked)
    total_weight = math.fsum(checked)
    shift = strata[0].shift
    offset = 0.0
    parts: list[tuple[float, float]] = []
    missing = None
    for summary, weight, name in zip(strata, checked, names, strict=True):
        mean = arm_mean(summary)
        if mean is None:
            raise ValueError(f"{name} is empty: pass only strata with units in the arm")
        share = weight / total_weight
        stratum_shift, stratum_offset = mean
        # re-centre on the first stratum's shift: (shift_p - shift) is exact when shifts are equal
        offset += share * ((stratum_shift - shift) + stratum_offset)
        moments = arm_moments(summary, name)
        if isinstance(moments, str):
            missing = missing or moments
            continue
        parts.append((share * share * moments.variance_of_mean, moments.dof))
    units = sum(_units(s) for s in strata)
    if missing is not None:
        return StratifiedSummary(shift, offset, None, None, units, missing)
    variance = sum(part for part, _ in parts)
    if variance == 0:
        # every stratum constant: no spread to estimate a dof from; Welch reports zero variance
        return StratifiedSummary(shift, offset, 0.0, float(units - len(strata)) or 1.0, units)
    if len(parts) == 1:
        return StratifiedSummary(shift, offset, variance, parts[0][1], units)  # exactly the stratum's
    # Satterthwaite dof (sum v_p)^2 / sum v_p^2 / d_p with v_p normalised by their sum, so that tiny
    # variances cannot underflow when squared
    dof = 1.0 / sum((part / variance) ** 2 / part_dof for part, part_dof in parts)
    return StratifiedSummary(shift, offset, variance, dof, units)
