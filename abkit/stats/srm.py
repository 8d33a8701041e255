"""Sample-ratio mismatch: chi-square goodness of fit of observed arm counts to configured weights."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from scipy import stats

from abkit.stats._checks import finite, level, relative_to_largest, whole_count
from abkit.stats._result import ToDictMixin

# p below this raises the flag; strict because the check runs on every report (many looks).
DEFAULT_SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult(ToDictMixin):
    """Pearson chi-square test of observed counts per arm against expected shares.

    Attributes:
        chi2: sum over arms of (observed - expected)**2 / expected.
        df: Number of arms compared minus 1.
        p: Upper-tail chi-square p-value.
        flag: True when p < threshold (or units landed in an arm with no configured weight);
            None when the test cannot be run.
        observed: Counts per arm, as given (configured arms with no units appear with 0).
        expected_share: Configured shares per arm, normalised to sum to 1.
        missing: Why chi2 / p are None, else None.
    """

    chi2: float | None
    df: int | None
    p: float | None
    flag: bool | None
    observed: Mapping[str, int] = field(default_factory=dict)
    expected_share: Mapping[str, float] = field(default_factory=dict)
    missing: str | None = None


def srm_test(
    observed: Mapping[str, int], expected_share: Mapping[str, float], threshold: float = DEFAULT_SRM_THRESHOLD
) -> SrmResult:
    """Test whether units split across arms as configured.

    Args:
        observed: Units (e.g. interactions or selections) per arm.
        expected_share: Configured weight per arm (any positive scale; normalised to sum to 1).
            Arms with weight 0 are expected to be empty.
        threshold: Flag when p < threshold.

    Returns:
        The test. Units in an arm without a positive weight raise the flag with chi2 = None and
        `missing` naming the arms; no units at all, or fewer than two weighted arms, give `missing`.

    Raises:
        ValueError: For a negative or non-integral count, a negative or non-finite weight, weights that
            sum to 0, or a threshold outside (0, 1).
    """
    threshold = level(threshold, "threshold")
    counts = {str(arm): whole_count(n, f"observed[{arm!r}]") for arm, n in observed.items()}
    weights = {str(arm): finite(w, f"expected_share[{arm!r}]") for arm, w in expected_share.items()}
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"expected_share must be >= 0, got {weights}")
    if max(weights.values(), default=0.0) <= 0:
        raise ValueError("expected_share must have a positive total")
    # relative to the largest, so that their total cannot overflow
    relative = dict(zip(weights, relative_to_largest(list(weights.values())), strict=True))
    weight_total = math.fsum(relative.values())
    shares = {arm: w / weight_total for arm, w in relative.items()}
    for arm in shares:
        counts.setdefault(arm, 0)

    stray = sorted(arm for arm, n in counts.items() if n > 0 and shares.get(arm, 0.0) == 0.0)
    if stray:
        return SrmResult(None, None, None, True, counts, shares, f"units in arms with no configured weight: {stray}")
    arms = [arm for arm, share in shares.items() if share > 0]
    if len(arms) < 2:
        return SrmResult(None, None, None, None, counts, shares, "fewer than two arms with a configured weight")
    total = sum(counts[arm] for arm in arms)
    if total == 0:
        return SrmResult(None, None, None, None, counts, shares, "no units observed")
    # Pearson chi-square: sum (O - E)^2 / E with E = total * share
    gaps = {arm: counts[arm] - total * shares[arm] for arm in arms}
    # (gap / E) * gap, not gap**2 / E: the square of a gap past 1e154 overflows (a float's ** raises)
    chi2 = math.fsum(gaps[arm] / (total * shares[arm]) * gaps[arm] for arm in arms)
    df = len(arms) - 1
    p = float(stats.chi2.sf(chi2, df))
    return SrmResult(chi2, df, p, p < threshold, counts, shares)
