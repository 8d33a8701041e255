"""Difference of means in seconds and in percent, with confidence intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

from abkit.stats._checks import level
from abkit.stats._moments import ArmSummary, arm_mean, arm_moments, mean_difference
from abkit.stats._result import ToDictMixin
from abkit.stats.welch import _welch


@dataclass(frozen=True)
class DeltaResult(ToDictMixin):
    """delta = mean(treatment) - mean(control), negative when treatment saves time.

    Attributes:
        delta_s: Difference of means in seconds; None only when an arm is empty.
        ci95_s: (low, high) confidence interval of delta_s (at `confidence`, 95% by default).
        delta_pct: 100 * delta_s / mean(control).
        ci95_pct: Delta-method confidence interval of delta_pct.
        missing: Why delta_s or ci95_s is None, else None.
        pct_missing: Why delta_pct or ci95_pct is None, else None.
        df: Welch-Satterthwaite df used for the t quantile.
        confidence: Confidence level of the intervals.
    """

    delta_s: float | None
    ci95_s: tuple[float, float] | None
    delta_pct: float | None
    ci95_pct: tuple[float, float] | None
    missing: str | None = None
    pct_missing: str | None = None
    df: float | None = None
    confidence: float = 0.95


def mean_delta(
    treatment: ArmSummary,
    control: ArmSummary,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("treatment", "control"),
) -> DeltaResult:
    """Difference of means with a Welch t confidence interval, in seconds and in percent of control.

    The seconds CI is delta +- q * se with q the t quantile at the Welch-Satterthwaite df. The percent
    CI applies the delta method to the ratio of means R = m1 / m0 (independent arms):
    Var(R) ~= v1 / m0**2 + m1**2 * v0 / m0**4, interval 100 * (R - 1 +- q * sqrt(Var(R))).

    Args:
        treatment: SampleSummary (selection level) or ClusterSummary (variance by interaction).
        control: Summary of the same kind for the control arm (holdout or baseline version).
        confidence: Confidence level in (0, 1).
        labels: Names of the two arms used in `missing` reasons.

    Raises:
        ValueError: When `confidence` is not strictly between 0 and 1.
    """
    level(confidence, "confidence")
    treatment_split, control_split = arm_mean(treatment), arm_mean(control)
    if treatment_split is None or control_split is None:
        reason = f"no selections in {labels[0] if treatment_split is None else labels[1]}"
        return DeltaResult(None, None, None, None, missing=reason, pct_missing=reason, confidence=confidence)
    delta = mean_difference(treatment_split, control_split)
    treatment_mean, control_mean = sum(treatment_split), sum(control_split)
    delta_pct, pct_reason = _percent(delta, control_mean)

    first, second = arm_moments(treatment, labels[0]), arm_moments(control, labels[1])
    if isinstance(first, str) or isinstance(second, str):
        reason = first if isinstance(first, str) else str(second)
        return DeltaResult(delta, None, delta_pct, None, reason, pct_reason or reason, confidence=confidence)
    welch = _welch(first, second)
    if welch.df is None or welch.se is None:
        return DeltaResult(
            delta, None, delta_pct, None, welch.missing, pct_reason or welch.missing, confidence=confidence
        )

    quantile = float(stats.t.isf((1.0 - confidence) / 2.0, welch.df))
    half = quantile * welch.se
    ci_s = (delta - half, delta + half)
    if delta_pct is None:
        return DeltaResult(delta, ci_s, None, None, None, pct_reason, welch.df, confidence)
    v1, v0 = first.variance_of_mean, second.variance_of_mean
    # delta method on R = m1 / m0: gradient (1 / m0, -m1 / m0^2), so se(R) = sqrt(v1 + R^2 v0) / |m0|
    # (the same as sqrt(v1 / m0^2 + m1^2 v0 / m0^4), without m0^4 underflowing or overflowing)
    ratio = treatment_mean / control_mean
    half_pct = 100.0 * quantile * (math.sqrt(v1 + ratio * ratio * v0) / abs(control_mean))
    if not math.isfinite(half_pct):
        return DeltaResult(delta, ci_s, delta_pct, None, None, _PCT_OVERFLOW, welch.df, confidence)
    ci_pct = (delta_pct - half_pct, delta_pct + half_pct)
    return DeltaResult(delta, ci_s, delta_pct, ci_pct, None, None, welch.df, confidence)


_PCT_OVERFLOW = "percent change too large to represent: control mean too close to zero"


def _percent(delta: float, control_mean: float) -> tuple[float | None, str | None]:
    """100 * delta / mean(control), or None and the reason when it is undefined or overflows."""
    if control_mean == 0:
        return None, "control mean is zero"
    delta_pct = 100.0 * (delta / control_mean)
    if not math.isfinite(delta_pct):
        return None, _PCT_OVERFLOW
    return delta_pct, None
