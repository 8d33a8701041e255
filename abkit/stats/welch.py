"""Welch's unequal-variance t-test, at selection level and at the randomisation unit (clusters)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from abkit.stats._checks import finite, whole_count
from abkit.stats._moments import ArmMoments, StratifiedSummary, arm_moments, mean_difference
from abkit.stats._result import ToDictMixin
from abkit.stats.cluster import ClusterSummary
from abkit.stats.summary import SampleSummary


@dataclass(frozen=True)
class WelchResult(ToDictMixin):
    """Welch t-test of mean(treatment) - mean(control).

    Attributes:
        t: t statistic, delta / se.
        df: Welch-Satterthwaite degrees of freedom.
        p: Two-sided p-value, 2 * P(T_df > |t|).
        delta: mean(treatment) - mean(control).
        se: Standard error of delta, sqrt(v_treatment + v_control).
        missing: Why the test could not be computed (all numbers None then), else None.
    """

    t: float | None
    df: float | None
    p: float | None
    delta: float | None
    se: float | None
    missing: str | None = None

    @classmethod
    def unavailable(cls, reason: str) -> WelchResult:
        """A result whose numbers are all None, with `reason` in `missing`."""
        return cls(t=None, df=None, p=None, delta=None, se=None, missing=reason)


def _welch(treatment: ArmMoments, control: ArmMoments) -> WelchResult:
    """Welch t, df and p from each arm's variance of the mean v and its dof d."""
    v1, v2 = treatment.variance_of_mean, control.variance_of_mean
    variance = v1 + v2
    if variance <= 0:
        return WelchResult.unavailable("zero variance in both arms")
    delta = mean_difference((treatment.shift, treatment.offset), (control.shift, control.offset))
    se = math.sqrt(variance)
    t = delta / se
    if not math.isfinite(t):
        return WelchResult.unavailable("variance too small to test the difference")
    # Welch-Satterthwaite df, (v1 + v2)^2 / (v1^2 / d1 + v2^2 / d2), with v normalised by v1 + v2
    # so that tiny variances cannot underflow when squared.
    share1, share2 = v1 / variance, v2 / variance
    df = 1.0 / (share1 * share1 / treatment.dof + share2 * share2 / control.dof)
    # sf of the upper tail keeps tiny p accurate (no 1 - cdf cancellation)
    p = min(1.0, 2.0 * float(stats.t.sf(abs(t), df)))
    return WelchResult(t=t, df=df, p=p, delta=delta, se=se)


def welch_test(
    treatment: SampleSummary, control: SampleSummary, labels: tuple[str, str] = ("treatment", "control")
) -> WelchResult:
    """Selection-level Welch t-test (as published) from two sample summaries.

    Args:
        treatment: Summary of the treatment arm (delta = treatment - control).
        control: Summary of the control arm (the holdout, or the baseline version).
        labels: Names of the two arms used in `missing` reasons.

    Returns:
        The test; `missing` names the reason when an arm is empty, has n = 1, or both have zero variance.
    """
    first = arm_moments(treatment, labels[0])
    if isinstance(first, str):
        return WelchResult.unavailable(first)
    second = arm_moments(control, labels[1])
    if isinstance(second, str):
        return WelchResult.unavailable(second)
    return _welch(first, second)


def welch_from_moments(
    mean1: float,
    var1: float,
    n1: int,
    mean2: float,
    var2: float,
    n2: int,
    labels: tuple[str, str] = ("treatment", "control"),
) -> WelchResult:
    """Welch t-test from means, sample variances (ddof = 1) and counts of the two arms.

    Raises:
        ValueError: When a mean or variance is not finite, a variance is negative or a count is not
            a non-negative integer.
    """
    arms = []
    for mean, var, n, label in ((mean1, var1, n1, labels[0]), (mean2, var2, n2, labels[1])):
        mean, var, n = (
            finite(mean, f"mean of {label}"),
            finite(var, f"variance of {label}"),
            whole_count(n, f"n of {label}"),
        )
        if var < 0:
            raise ValueError(f"variance of {label} must be >= 0, got {var!r}")
        if n == 0:
            return WelchResult.unavailable(f"no selections in {label}")
        if n == 1:
            return WelchResult.unavailable(f"n = 1 in {label}")
        arms.append(ArmMoments(shift=mean, offset=0.0, variance_of_mean=var / n, dof=n - 1))
    return _welch(arms[0], arms[1])


def clustered_welch(
    treatment: ClusterSummary | StratifiedSummary,
    control: ClusterSummary | StratifiedSummary,
    labels: tuple[str, str] = ("treatment", "control"),
) -> WelchResult:
    """Welch t-test whose variance respects the randomisation unit (advocate-case interactions).

    A `StratifiedSummary` (phases combined, see `abkit.stats.stratified`) uses its combined
    variance and Satterthwaite dof in the same way.

    Each arm's variance of the mean is the delta-method (cluster-robust) variance of the ratio
    estimator (`ClusterSummary.variance_of_mean`); the Welch-Satterthwaite df uses k - 1 per arm
    (k clusters), so a few heavy interactions cannot pass for many independent selections.
    """
    first = arm_moments(treatment, labels[0])
    if isinstance(first, str):
        return WelchResult.unavailable(first)
    second = arm_moments(control, labels[1])
    if isinstance(second, str):
        return WelchResult.unavailable(second)
    return _welch(first, second)
