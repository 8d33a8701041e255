"""Mann-Kendall monotonic trend test and Sen slope, via pymannkendall."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pymannkendall
from scipy import stats

from abkit.stats._checks import level
from abkit.stats._result import ToDictMixin, finite_or_none

TrendMethod = Literal["original", "hamed_rao"]
_TESTS = {
    "original": pymannkendall.original_test,
    # variance of S corrected for autocorrelation in the ranks (Hamed & Rao 1998)
    "hamed_rao": pymannkendall.hamed_rao_modification_test,
}


@dataclass(frozen=True)
class TrendResult(ToDictMixin):
    """Mann-Kendall test of a monotonic trend in values taken in order.

    Attributes:
        trend: "increasing", "decreasing" or "no trend" at alpha.
        tau: Kendall's tau, S / (n (n - 1) / 2).
        s: Mann-Kendall S, sum over i < j of sign(x_j - x_i).
        z: Normal score with continuity correction, (S - sign(S)) / sqrt(Var S).
        p: Two-sided p-value, 2 * P(Z > |z|) from the upper tail (pymannkendall's 2 * (1 - Phi(|z|)) is
            the same number, but rounds to 0 below about 1e-16).
        sen_slope: Median of (v_j - v_i) / (j - i) over i < j (per step in the order), or per unit of
            x when `x` was given.
        intercept: median(v) - sen_slope * median(index or x), as pymannkendall and scipy define it.
        n: Number of values.
        method: "original" or "hamed_rao".
        missing: Why the numbers are None, else None.
    """

    trend: str | None
    tau: float | None
    s: float | None
    z: float | None
    p: float | None
    sen_slope: float | None
    intercept: float | None
    n: int
    method: TrendMethod
    missing: str | None = None


def mann_kendall(
    values: Sequence[float],
    method: TrendMethod = "original",
    alpha: float = 0.05,
    x: Sequence[float] | None = None,
) -> TrendResult:
    """Mann-Kendall trend test (pymannkendall's original_test or hamed_rao_modification_test).

    Args:
        values: Observations in order (e.g. savings per template ordered by accuracy).
        method: "original", or "hamed_rao" for the variance corrected for autocorrelation.
        alpha: Significance level for the `trend` label.
        x: Optional coordinate of each value (e.g. the template's holdout accuracy). Values are then
            ordered by x (ties keep input order) for the test, and the Sen slope and intercept are
            Theil-Sen against x (median of (v_j - v_i) / (x_j - x_i) over pairs with x_i != x_j,
            scipy.stats.theilslopes), i.e. seconds per unit of x instead of per step of the order.

    Returns:
        The test; with fewer than 3 values, all values equal, or a variance the method cannot
        estimate, the numbers are None and `missing` says why.

    Raises:
        ValueError: For an unknown method, alpha outside (0, 1), a non-finite value or x, or x of
            another length than values.
    """
    if method not in _TESTS:
        raise ValueError(f"method must be one of {sorted(_TESTS)}, got {method!r}")
    alpha = level(alpha, "alpha")
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError("values must all be finite (found NaN or infinity)")
    n = int(array.size)
    coordinates = None
    if x is not None:
        coordinates = np.asarray(x, dtype=np.float64).ravel()
        if coordinates.size != n:
            raise ValueError(f"x has {coordinates.size} values, values has {n}")
        if not np.all(np.isfinite(coordinates)):
            raise ValueError("x must all be finite (found NaN or infinity)")
        order = np.argsort(coordinates, kind="stable")
        array, coordinates = array[order], coordinates[order]

    def unavailable(reason: str) -> TrendResult:
        return TrendResult(None, None, None, None, None, None, None, n, method, reason)

    if n < 3:
        return unavailable(f"n = {n}, need at least 3 values")
    if np.all(array == array[0]):
        return unavailable("all values equal")
    if coordinates is not None and np.all(coordinates == coordinates[0]):
        return unavailable("all x equal: no order to test")
    with warnings.catch_warnings():
        # Hamed-Rao divides by the rank autocovariance, which is 0/0 for very short series.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = _TESTS[method](array, alpha=alpha)
    numbers = [finite_or_none(v) for v in (result.Tau, result.s, result.z, result.p, result.slope, result.intercept)]
    if any(v is None for v in numbers) or not math.isfinite(float(result.var_s)) or float(result.var_s) <= 0:
        return unavailable(f"variance of S cannot be estimated by the {method} method for these {n} values")
    tau, s, z, _, slope, intercept = numbers
    assert z is not None
    # pymannkendall's p is 2 * (1 - cdf(|z|)), which cancels for a strong trend (0 past z ~ 8.3);
    # the upper tail's sf keeps a tiny p accurate, as the Welch test's does.
    p = min(1.0, 2.0 * float(stats.norm.sf(abs(z))))
    if coordinates is not None:
        theil_sen = stats.theilslopes(array, coordinates)
        slope, intercept = float(theil_sen.slope), float(theil_sen.intercept)
    return TrendResult(str(result.trend), tau, s, z, p, slope, intercept, n, method)
