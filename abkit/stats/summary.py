"""Sufficient statistics of one sample: n, and sums about a shift that add together."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from abkit.stats._checks import finite, level, whole_count
from abkit.stats._result import ToDictMixin


@dataclass(frozen=True)
class SampleSummary(ToDictMixin):
    """n, sum and sum of squares of a sample about a shift.

    Sums are of (x - shift) and (x - shift)**2, so a shift close to the data (the first value,
    or any value from the same range) keeps the sums small: data such as timestamps in seconds or
    values offset by 1e9 cannot cancel catastrophically in the variance.

    `total` and `total_sq` may be None when n == 0 (SQL's SUM over no rows) and are stored as 0.

    Attributes:
        n: Number of observations.
        shift: The value subtracted from every observation before summing.
        total: Sum of (x - shift).
        total_sq: Sum of (x - shift)**2.
    """

    n: int
    shift: float
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        n = whole_count(self.n, "n")
        shift = finite(self.shift, "shift")
        total = 0.0 if self.total is None and n == 0 else finite(self.total, "total")
        total_sq = 0.0 if self.total_sq is None and n == 0 else finite(self.total_sq, "total_sq")
        if total_sq < 0:
            raise ValueError(f"total_sq must be >= 0, got {total_sq!r}")
        if n == 0 and (total != 0 or total_sq != 0):
            raise ValueError("an empty summary (n = 0) must have total = total_sq = 0")
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "total", total)
        object.__setattr__(self, "total_sq", total_sq)

    @classmethod
    def empty(cls, shift: float = 0.0) -> SampleSummary:
        """A summary of no observations (the identity of `+`)."""
        return cls(n=0, shift=shift, total=0.0, total_sq=0.0)

    @classmethod
    def from_values(cls, values: Iterable[float], shift: float | None = None) -> SampleSummary:
        """Summarise raw values.

        Args:
            values: Finite numbers.
            shift: Value subtracted before summing; defaults to the first value.

        Raises:
            ValueError: When a value is NaN or infinite.
        """
        array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
        array = array.ravel()
        if array.size == 0:
            return cls.empty(0.0 if shift is None else shift)
        if not np.all(np.isfinite(array)):
            raise ValueError("values must all be finite (found NaN or infinity)")
        centre = float(array[0]) if shift is None else finite(shift, "shift")
        deviations = array - centre
        return cls(
            n=int(array.size),
            shift=centre,
            total=float(deviations.sum()),
            total_sq=float(np.dot(deviations, deviations)),
        )

    @property
    def mean(self) -> float | None:
        """Sample mean, shift + total / n; None when n == 0."""
        if self.n == 0:
            return None
        return self.shift + self.total / self.n

    @property
    def sum_sq_dev(self) -> float:
        """Sum of squared deviations from the mean, M2 = total_sq - total**2 / n (clamped at 0)."""
        if self.n == 0:
            return 0.0
        return max(self.total_sq - self.total * self.total / self.n, 0.0)

    @property
    def variance(self) -> float | None:
        """Sample variance with ddof = 1, M2 / (n - 1); None when n < 2."""
        if self.n < 2:
            return None
        return self.sum_sq_dev / (self.n - 1)

    @property
    def sd(self) -> float | None:
        """Sample standard deviation (ddof = 1); None when n < 2."""
        variance = self.variance
        return None if variance is None else math.sqrt(variance)

    @property
    def sem(self) -> float | None:
        """Standard error of the mean, sd / sqrt(n); None when n < 2."""
        sd = self.sd
        return None if sd is None else sd / math.sqrt(self.n)

    def mean_ci(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Student-t interval of the mean, mean -/+ t(n - 1, (1 + confidence) / 2) * sem; None when n < 2.

        It treats the observations as independent: a description of a sample, not a test of arms.

        Raises:
            ValueError: When `confidence` is not strictly between 0 and 1.
        """
        level(confidence, "confidence")
        sem, mean = self.sem, self.mean
        if sem is None or mean is None:
            return None
        half = float(stats.t.ppf((1.0 + confidence) / 2.0, self.n - 1)) * sem
        return mean - half, mean + half

    def __add__(self, other: SampleSummary) -> SampleSummary:
        """Combine two disjoint samples, keeping the left operand's shift (or the right's if left is empty).

        The right-hand sums are re-centred algebraically; M2 is combined with Chan et al.'s pairwise
        formula, M2 = M2_a + M2_b + d**2 * n_a * n_b / n with d = mean_b - mean_a, which stays exact
        when the two shifts are far apart.
        """
        if not isinstance(other, SampleSummary):
            return NotImplemented
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        shift_gap = other.shift - self.shift
        mean_gap = shift_gap + other.total / other.n - self.total / self.n
        sum_sq_dev = self.sum_sq_dev + other.sum_sq_dev + mean_gap * mean_gap * self.n * other.n / n
        total = self.total + other.total + other.n * shift_gap
        return SampleSummary(n=n, shift=self.shift, total=total, total_sq=sum_sq_dev + total * total / n)

    def __radd__(self, other: object) -> SampleSummary:
        """Allow `sum(summaries)`, which starts from 0."""
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented
