"""Always-valid inference: an asymptotic confidence sequence for a difference of means, and its p-value.

A fixed-horizon CI covers the truth 95% of the time when it is read once, at a sample size fixed in
advance. Read every day of a two-week test and stopped at the first significant look, it does not: in
abkit's A/A simulation, 14 daily looks reject about one run in four. A confidence sequence covers
the truth at every sample size at once (with probability 1 - alpha, simultaneously), so it may be
read as often as one likes and a test may stop the first time it excludes 0.

Method: the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard, Ramdas & Lindon,
"Time-uniform central limit theory and asymptotic confidence sequences" (Annals of Statistics, 2024;
arXiv:2103.06476), eq. (9) with its normal-mixture boundary, the form GrowthBook uses. With N
randomisation units (interactions, both arms), V the estimated variance of the delta and
a = N rho**2:

    half-width = sqrt(V) * sqrt((a + 1) / a * (log(a + 1) - 2 log(alpha)))

The tuning parameter rho is set so that the boundary is tightest at N = n_star units (the paper's
closed form, GrowthBook's `sequential_tuning_parameter`):

    rho**2 = (-2 log(alpha) + log(-2 log(alpha) + 1)) / n_star

The always-valid p-value is the smallest alpha whose sequence excludes 0 (with rho held at its
alpha = 0.05 value), which inverts in closed form, with z = delta / sqrt(V):

    p = min(1, sqrt(a + 1) * exp(-z**2 * a / (2 (a + 1))))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from abkit.stats._checks import finite, level, whole_count
from abkit.stats._moments import arm_mean, arm_moments, mean_difference
from abkit.stats._result import ToDictMixin
from abkit.stats.cluster import ClusterSummary

# Interactions (both arms together) at which the confidence sequence is tightest. GrowthBook's
# default; the width grows only like sqrt(log N) past it (+7% at 10 n_star, +17% at 100 n_star over
# the width at n_star) but fast before it (+27% at n_star / 10, x3 at n_star / 100), so a value near
# the smallest sample at which one would consider stopping is the safe choice.
DEFAULT_N_STAR = 5_000

# rho is fixed at this alpha, so the p-value and the sequences at other levels share one boundary.
TUNING_ALPHA = 0.05


@dataclass(frozen=True)
class SequentialResult(ToDictMixin):
    """Always-valid confidence sequence and p-value for delta = mean(treatment) - mean(control).

    Attributes:
        delta_s: The difference of means in seconds; None only when an arm is empty.
        ci95_s: (low, high), the confidence sequence at this look (at `confidence`, 95% by default).
        p: Always-valid p-value: the smallest alpha whose sequence excludes 0 at this look.
        tuning: n_star, the number of units (interactions, both arms) at which the sequence is tightest.
        missing: Why ci95_s and p are None, else None.
        units: N, the randomisation units (interactions, both arms) the look is based on.
        se: Standard error of delta_s used.
        confidence: Confidence level of the sequence.
    """

    delta_s: float | None
    ci95_s: tuple[float, float] | None
    p: float | None
    tuning: int
    missing: str | None = None
    units: int | None = None
    se: float | None = None
    confidence: float = 0.95


def mixture_rho(n_star: int, alpha: float = TUNING_ALPHA) -> float:
    """rho that makes the normal-mixture boundary tightest at n_star units (Waudby-Smith et al., 2024).

    rho**2 = (-2 log(alpha) + log(-2 log(alpha) + 1)) / n_star.
    """
    log_alpha = math.log(alpha)
    return math.sqrt((-2.0 * log_alpha + math.log(1.0 - 2.0 * log_alpha)) / n_star)


def boundary_multiplier(units: float, n_star: int = DEFAULT_N_STAR, confidence: float = 0.95) -> float:
    """The confidence sequence's half-width in standard errors after `units` units (both arms).

    sqrt((a + 1) / a * (log(a + 1) - 2 log(alpha))) with a = units * rho**2 (`mixture_rho(n_star)`):
    the sequential counterpart of z_{1 - alpha/2}, which it exceeds at every sample size (the price
    of reading the interval as often as one likes). `units` may be fractional (a planned sample).

    Raises:
        ValueError: For units <= 0 or levels out of range.
    """
    n_star = _checked_tuning(n_star, confidence)
    units = finite(units, "units")
    if units <= 0:
        raise ValueError(f"units must be > 0, got {units!r}")
    a = units * mixture_rho(n_star) ** 2
    return math.sqrt((a + 1.0) / a * (math.log1p(a) - 2.0 * math.log(1.0 - confidence)))


def _checked_tuning(n_star: int, confidence: float) -> int:
    level(confidence, "confidence")
    n_star = whole_count(n_star, "n_star")
    if n_star == 0:
        raise ValueError("n_star must be >= 1")
    return n_star


def confidence_sequence(
    delta_s: float,
    variance: float,
    units: int,
    n_star: int = DEFAULT_N_STAR,
    confidence: float = 0.95,
) -> SequentialResult:
    """Asymptotic confidence sequence and always-valid p for an estimate with a CLT variance.

    Args:
        delta_s: The estimate (e.g. a difference of means, CUPED-adjusted or not).
        variance: Its estimated variance (e.g. the sum of the arms' cluster-robust variances of the mean).
        units: N, randomisation units behind the estimate (interactions in both arms).
        n_star: Tuning: the number of units at which the sequence is tightest.
        confidence: 1 - alpha.

    Returns:
        The sequence at this look; `missing` says why it is None (no units, zero variance).

    Raises:
        ValueError: For a non-finite estimate, a negative variance or count, or levels out of range.
    """
    n_star = _checked_tuning(n_star, confidence)
    delta, variance, units = finite(delta_s, "delta_s"), finite(variance, "variance"), whole_count(units, "units")
    if variance < 0:
        raise ValueError(f"variance must be >= 0, got {variance!r}")
    unavailable = SequentialResult(delta, None, None, n_star, None, units, math.sqrt(variance), confidence)
    if units == 0:
        return _with_missing(unavailable, "no units")
    if variance == 0:
        return _with_missing(unavailable, "zero variance in both arms")
    a = units * mixture_rho(n_star) ** 2
    se = math.sqrt(variance)
    half = se * boundary_multiplier(units, n_star, confidence)
    z = delta / se
    # smallest alpha with |delta| >= half-width: log p = log(a + 1) / 2 - z^2 a / (2 (a + 1))
    log_p = 0.5 * math.log1p(a) - 0.5 * z * z * a / (a + 1.0)
    p = 1.0 if log_p >= 0 else math.exp(log_p)
    return SequentialResult(delta, (delta - half, delta + half), p, n_star, None, units, se, confidence)


def _with_missing(result: SequentialResult, reason: str) -> SequentialResult:
    return SequentialResult(
        result.delta_s, None, None, result.tuning, reason, result.units, result.se, result.confidence
    )


def sequential_delta(
    treatment: ClusterSummary,
    control: ClusterSummary,
    n_star: int = DEFAULT_N_STAR,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("treatment", "control"),
) -> SequentialResult:
    """Confidence sequence for mean(treatment) - mean(control) at the interaction level.

    Uses the same sufficient statistics as `clustered_welch` / `mean_delta`: the variance is the sum
    of the arms' cluster-robust (delta-method) variances of the mean and N = k_treatment + k_control.

    Args:
        treatment: Interaction-level sums of the treatment arm.
        control: Interaction-level sums of the control arm (holdout or baseline version).
        n_star: Tuning: interactions (both arms) at which the sequence is tightest.
        confidence: 1 - alpha.
        labels: Names of the two arms used in `missing` reasons.
    """
    n_star = _checked_tuning(n_star, confidence)
    treatment_split, control_split = arm_mean(treatment), arm_mean(control)
    if treatment_split is None or control_split is None:
        reason = f"no interactions in {labels[0] if treatment_split is None else labels[1]}"
        return SequentialResult(None, None, None, n_star, reason, confidence=confidence)
    delta = mean_difference(treatment_split, control_split)
    units = treatment.k + control.k
    first, second = arm_moments(treatment, labels[0]), arm_moments(control, labels[1])
    if isinstance(first, str) or isinstance(second, str):
        reason = first if isinstance(first, str) else str(second)
        return SequentialResult(delta, None, None, n_star, reason, units, confidence=confidence)
    variance = first.variance_of_mean + second.variance_of_mean
    return confidence_sequence(delta, variance, units, n_star, confidence)
