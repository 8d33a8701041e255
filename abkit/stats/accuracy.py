"""Proportions (top-k accuracy) with Wilson score intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats

from abkit.stats._checks import whole_count
from abkit.stats._result import ToDictMixin

# Two-sided 95% normal quantile, z = Phi^-1(0.975), as statsmodels' proportion_confint uses.
_Z95 = float(stats.norm.isf(0.025))


@dataclass(frozen=True)
class Proportion(ToDictMixin):
    """An estimated proportion hits / n with its 95% Wilson score interval.

    Attributes:
        estimate: hits / n, None when n == 0.
        ci95: (low, high) Wilson interval, None when n == 0.
        n: Number of trials.
        missing: Why estimate / ci95 are None, else None.
    """

    estimate: float | None
    ci95: tuple[float, float] | None
    n: int
    missing: str | None = None


def proportion(hits: int, n: int) -> Proportion:
    """Proportion with the Wilson score interval (Wilson 1927).

    centre = (p + z**2 / (2n)) / (1 + z**2 / n),
    half = z / (1 + z**2 / n) * sqrt(p (1 - p) / n + z**2 / (4 n**2)), z = 1.959964 for 95%.

    Raises:
        ValueError: When hits or n is not a non-negative integer or hits > n.
    """
    hits, n = whole_count(hits, "hits"), whole_count(n, "n")
    if hits > n:
        raise ValueError(f"hits ({hits}) must be <= n ({n})")
    if n == 0:
        return Proportion(None, None, 0, "n = 0")
    p = hits / n
    z2 = _Z95 * _Z95
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = _Z95 / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    # The interval reaches 0 (or 1) exactly when hits = 0 (or n); pin those ends against rounding.
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    high = 1.0 if hits == n else min(1.0, centre + half)
    return Proportion(p, (low, high), n)


@dataclass(frozen=True)
class TopKAccuracy(ToDictMixin):
    """Top-1, top-3 and top-5 accuracy over the same n predictions."""

    top1: Proportion
    top3: Proportion
    top5: Proportion

    @property
    def n(self) -> int:
        return self.top1.n

    def to_dict(self) -> dict[str, Any]:
        """Flat report form: n, top1/top3/top5, top1_ci95/..., and missing (see docs/report-schema.md)."""
        out: dict[str, Any] = {"n": self.n}
        for name in ("top1", "top3", "top5"):
            part = getattr(self, name)
            out[name] = part.estimate
            out[f"{name}_ci95"] = None if part.ci95 is None else list(part.ci95)
        out["missing"] = self.top1.missing
        return out


def topk_accuracy(hits_top1: int, hits_top3: int, hits_top5: int, n: int) -> TopKAccuracy:
    """Top-k accuracies with Wilson intervals.

    Raises:
        ValueError: Unless 0 <= hits_top1 <= hits_top3 <= hits_top5 <= n (a top-1 hit is a top-3 hit).
    """
    if (
        not whole_count(hits_top1, "hits_top1")
        <= whole_count(hits_top3, "hits_top3")
        <= whole_count(hits_top5, "hits_top5")
    ):
        raise ValueError(f"need hits_top1 <= hits_top3 <= hits_top5, got {hits_top1}, {hits_top3}, {hits_top5}")
    return TopKAccuracy(proportion(hits_top1, n), proportion(hits_top3, n), proportion(hits_top5, n))
