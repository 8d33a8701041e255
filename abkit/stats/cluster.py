"""Sufficient statistics over clusters (advocate-case interactions) for a variance that respects the unit.

Each cluster i (one (advocate_id, case_id) interaction, the randomisation unit) contributes its count
n_i of selections and the sum y_i of (selection_time_s - shift) over them. The arm's mean selection time
is the ratio estimator  mean = shift + sum(y_i) / sum(n_i)  and its variance comes from the delta method
on the per-cluster sums, which is what a cluster-robust (CR1) OLS fit of selection time on a constant
gives (see `ClusterSummary.variance_of_mean`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from abkit.stats._checks import finite, whole_count
from abkit.stats._result import ToDictMixin


@dataclass(frozen=True)
class ClusterSummary(ToDictMixin):
    """Sums over clusters of n_i (selections) and y_i (sum of x - shift over the cluster's selections).

    Clusters in two summaries that are added must be disjoint (each interaction lies in one arm and
    is aggregated once). Sums may be None when k == 0 (SQL's SUM over no rows) and are stored as 0.

    Attributes:
        k: Number of clusters.
        sum_n: Sum of n_i (the number of selections).
        sum_y: Sum of y_i.
        sum_n2: Sum of n_i**2.
        sum_y2: Sum of y_i**2.
        sum_ny: Sum of n_i * y_i.
        shift: Value subtracted from every selection time before y_i was summed.
    """

    k: int
    sum_n: int
    sum_y: float
    sum_n2: float
    sum_y2: float
    sum_ny: float
    shift: float

    def __post_init__(self) -> None:
        k = whole_count(self.k, "k")
        fields = {}
        for name in ("sum_n", "sum_y", "sum_n2", "sum_y2", "sum_ny"):
            value = getattr(self, name)
            fields[name] = 0.0 if value is None and k == 0 else finite(value, name)
        fields["sum_n"] = whole_count(fields["sum_n"], "sum_n")
        shift = finite(self.shift, "shift")
        if fields["sum_n"] < k:
            raise ValueError(f"sum_n ({fields['sum_n']}) must be >= k ({k}): every cluster has a selection")
        if fields["sum_n2"] < fields["sum_n"] or fields["sum_y2"] < 0:
            raise ValueError("sum_n2 must be >= sum_n and sum_y2 >= 0")
        if k == 0 and any(fields[name] != 0 for name in fields):
            raise ValueError("an empty cluster summary (k = 0) must have all sums = 0")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "shift", shift)
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @classmethod
    def empty(cls, shift: float = 0.0) -> ClusterSummary:
        """A summary of no clusters (the identity of `+`)."""
        return cls(k=0, sum_n=0, sum_y=0.0, sum_n2=0.0, sum_y2=0.0, sum_ny=0.0, shift=shift)

    @classmethod
    def from_clusters(cls, counts: Iterable[int], sums: Iterable[float], shift: float) -> ClusterSummary:
        """Build from per-cluster counts n_i and sums y_i = sum(x - shift).

        Args:
            counts: Selections per cluster, each >= 1.
            sums: Per-cluster sums of (x - shift), aligned with `counts`.
            shift: The shift the sums are relative to.

        Raises:
            ValueError: When the lengths differ, a count is < 1 or a sum is not finite.
        """
        n = np.asarray(list(counts) if not isinstance(counts, np.ndarray) else counts, dtype=np.float64).ravel()
        y = np.asarray(list(sums) if not isinstance(sums, np.ndarray) else sums, dtype=np.float64).ravel()
        if n.shape != y.shape:
            raise ValueError(f"counts and sums differ in length ({n.size} != {y.size})")
        if n.size == 0:
            return cls.empty(shift)
        if np.any(n < 1) or np.any(n != np.round(n)):
            raise ValueError("counts must be whole numbers >= 1 (one per cluster)")
        if not np.all(np.isfinite(y)):
            raise ValueError("sums must all be finite (found NaN or infinity)")
        return cls(
            k=int(n.size),
            sum_n=int(n.sum()),
            sum_y=float(y.sum()),
            sum_n2=float(np.dot(n, n)),
            sum_y2=float(np.dot(y, y)),
            sum_ny=float(np.dot(n, y)),
            shift=shift,
        )

    @classmethod
    def from_values(
        cls, values: Iterable[float], cluster_ids: Iterable[object], shift: float | None = None
    ) -> ClusterSummary:
        """Build from raw selection times and the cluster (interaction) each belongs to.

        Args:
            values: Selection times.
            cluster_ids: One hashable cluster id per value (e.g. an (advocate_id, case_id) string).
            shift: Value subtracted before summing; defaults to the first value.
        """
        x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).ravel()
        ids = list(cluster_ids)
        if len(ids) != x.size:
            raise ValueError(f"values and cluster_ids differ in length ({x.size} != {len(ids)})")
        if x.size == 0:
            return cls.empty(0.0 if shift is None else shift)
        if not np.all(np.isfinite(x)):
            raise ValueError("values must all be finite (found NaN or infinity)")
        centre = float(x[0]) if shift is None else finite(shift, "shift")
        index: dict[object, int] = {}
        codes = np.fromiter((index.setdefault(cid, len(index)) for cid in ids), dtype=np.int64, count=len(ids))
        counts = np.bincount(codes)
        sums = np.bincount(codes, weights=x - centre)
        return cls.from_clusters(counts, sums, centre)

    @property
    def mean(self) -> float | None:
        """Ratio-estimator mean, shift + sum_y / sum_n (the selection-level mean); None when empty."""
        if self.sum_n == 0:
            return None
        return self.shift + self.sum_y / self.sum_n

    @property
    def sum_sq_residual(self) -> float:
        """Sum over clusters of (y_i - r n_i)**2 with r = sum_y / sum_n, from the sums (clamped at 0).

        Expands to sum_y2 - 2 r sum_ny + r**2 sum_n2; it does not depend on the shift.
        """
        if self.sum_n == 0:
            return 0.0
        ratio = self.sum_y / self.sum_n
        return max(self.sum_y2 - 2.0 * ratio * self.sum_ny + ratio * ratio * self.sum_n2, 0.0)

    @property
    def variance_of_mean(self) -> float | None:
        """Delta-method (cluster-robust) variance of `mean`; None when k < 2.

        Var(mean) = k / (k - 1) * sum_i (y_i - r n_i)**2 / (sum_n)**2, i.e. the delta method on the
        ratio of per-cluster means with sample (ddof = 1) variances and covariance,
        (s_y**2 - 2 r s_ny + r**2 s_n**2) / (k * nbar**2). It equals the CR1 cluster-robust variance of
        the intercept in OLS of selection time on a constant, grouped by cluster (statsmodels
        `cov_type="cluster"`, whose small-sample factor is G/(G-1) * (N-1)/(N-K) = k/(k-1) with K = 1).
        """
        if self.k < 2:
            return None
        # divided before the factor k / (k - 1) <= 2 is applied (sum_n >= k >= 2), so it cannot overflow
        return self.k / (self.k - 1) * (self.sum_sq_residual / (self.sum_n * self.sum_n))

    @property
    def se(self) -> float | None:
        """Standard error of `mean`, sqrt(variance_of_mean); None when k < 2."""
        variance = self.variance_of_mean
        return None if variance is None else math.sqrt(variance)

    @property
    def mean_cluster_size(self) -> float | None:
        """Average selections per cluster, sum_n / k; None when empty."""
        return None if self.k == 0 else self.sum_n / self.k

    def __add__(self, other: ClusterSummary) -> ClusterSummary:
        """Combine disjoint sets of clusters, keeping the left operand's shift (the right's if left is empty).

        The right-hand sums are re-centred exactly: y_i' = y_i + n_i d with d = other.shift - self.shift.
        """
        if not isinstance(other, ClusterSummary):
            return NotImplemented
        if other.k == 0:
            return self
        if self.k == 0:
            return other
        gap = other.shift - self.shift
        return ClusterSummary(
            k=self.k + other.k,
            sum_n=self.sum_n + other.sum_n,
            sum_y=self.sum_y + other.sum_y + gap * other.sum_n,
            sum_n2=self.sum_n2 + other.sum_n2,
            sum_y2=self.sum_y2 + other.sum_y2 + 2.0 * gap * other.sum_ny + gap * gap * other.sum_n2,
            sum_ny=self.sum_ny + other.sum_ny + gap * other.sum_n2,
            shift=self.shift,
        )

    def __radd__(self, other: object) -> ClusterSummary:
        """Allow `sum(summaries)`, which starts from 0."""
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented
