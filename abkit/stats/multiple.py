"""Corrections for testing several hypotheses in one report."""

from __future__ import annotations

import math
from collections.abc import Sequence


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    With the m non-None p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value is
    p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)) (Holm 1979). None entries (tests that could not be
    computed) pass through as None and do not count in m.

    Raises:
        ValueError: When a p-value is NaN or outside [0, 1].
    """
    present = []
    for position, p in enumerate(p_values):
        if p is None:
            continue
        p = float(p)
        if math.isnan(p) or not 0.0 <= p <= 1.0:
            raise ValueError(f"p_values[{position}] must be in [0, 1] or None, got {p!r}")
        present.append((p, position))
    adjusted: list[float | None] = [None] * len(p_values)
    m = len(present)
    running = 0.0
    # stable sort keeps ties in input order, like statsmodels' multipletests
    for rank, (p, position) in enumerate(sorted(present, key=lambda pair: pair[0])):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[position] = running
    return adjusted
