"""The scaling fits: ordinary least squares with a CI on the slope, and what the fit says.

Pure maths (scipy), no torch: one :class:`LinearFit` per (x variable, group), where a group is
one adaptation run (one model size) or, when there are several runs, all of them pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

MIN_POINTS = 3  # a line through 2 points has R² = 1 by construction and no residual variance
FEW_POINTS = 5  # below this, a fit is reported with a caution: its CI rests on 1-2 degrees of freedom
LINEAR_R2 = 0.9  # the R² at which a fit is called linear (the acceptance bar of issue 19)
CONFIDENCE = 0.95


@dataclass(frozen=True)
class LinearFit:
    """``y = intercept + slope * x`` by ordinary least squares, with a t-interval on the slope.

    Attributes:
        x_name: the regressor (``lm_loss``, ``log10_tokens``, ``log10_flops``).
        group: the run it was fitted on, or ``pooled``.
        n: points in the fit.
        slope, intercept, r2: the least-squares line and its coefficient of determination.
        slope_stderr: standard error of the slope (scipy.stats.linregress).
        slope_ci_low, slope_ci_high: ``slope ± t(1 - α/2, n - 2) * slope_stderr``.
        p_value: two-sided test of slope = 0 (t with n - 2 degrees of freedom).
        confidence: the CI's level.
    """

    x_name: str
    group: str
    n: int
    slope: float
    intercept: float
    r2: float
    slope_stderr: float
    slope_ci_low: float
    slope_ci_high: float
    p_value: float
    confidence: float = CONFIDENCE

    @property
    def linear(self) -> bool:
        """R² at least ``LINEAR_R2`` and a slope CI that excludes zero."""
        return self.r2 >= LINEAR_R2 and not self.slope_ci_low <= 0.0 <= self.slope_ci_high

    @property
    def verdict(self) -> str:
        """What the fit shows, in words."""
        ci = f"slope {self.slope:.3g}, {self.confidence:.0%} CI [{self.slope_ci_low:.3g}, {self.slope_ci_high:.3g}]"
        if self.slope_ci_low <= 0.0 <= self.slope_ci_high:
            words = f"no linear relation shown: R² {self.r2:.2f}, {ci} includes 0"
        elif self.r2 < LINEAR_R2:
            words = f"poor fit: R² {self.r2:.2f} < {LINEAR_R2}; {ci}"
        else:
            words = f"linear: R² {self.r2:.3f}, {ci}"
        if self.n < FEW_POINTS:
            words += f" (only {self.n} points)"
        return words

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "linear": self.linear, "verdict": self.verdict}


def linear_fit(
    x: Sequence[float], y: Sequence[float], *, x_name: str = "x", group: str = "", confidence: float = CONFIDENCE
) -> LinearFit:
    """Least-squares line of ``y`` on ``x`` with a t-interval on the slope.

    Raises:
        ValueError: lengths differ, fewer than ``MIN_POINTS`` points, or x does not vary.
    """
    where = f"{group}: {x_name}" if group else x_name
    if len(x) != len(y):
        raise ValueError(f"{where}: x and y differ in length ({len(x)} vs {len(y)})")
    n = len(x)
    if n < MIN_POINTS:
        raise ValueError(
            f"{where}: a line needs at least {MIN_POINTS} points, got {n} (through 2 points R² is 1 by construction)"
        )
    if min(x) == max(x):
        raise ValueError(f"{where}: all x values are equal; no line can be fitted")
    result = stats.linregress(x, y)
    half_width = float(stats.t.ppf(0.5 + confidence / 2, n - 2)) * float(result.stderr)
    slope = float(result.slope)
    return LinearFit(
        x_name=x_name,
        group=group,
        n=n,
        slope=slope,
        intercept=float(result.intercept),
        r2=float(result.rvalue) ** 2,
        slope_stderr=float(result.stderr),
        slope_ci_low=slope - half_width,
        slope_ci_high=slope + half_width,
        p_value=float(result.pvalue),
        confidence=confidence,
    )
