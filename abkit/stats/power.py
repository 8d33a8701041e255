"""Power: the minimum detectable effect of a design, and how long a holdout must run to detect a saving."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats

from abkit.stats._checks import finite, level, whole_count
from abkit.stats._result import ToDictMixin
from abkit.stats.cluster import ClusterSummary
from abkit.stats.summary import SampleSummary


def _z_sum(alpha: float, power: float) -> float:
    """z_{1 - alpha/2} + z_{power}: the two-sided normal-approximation power multiplier."""
    alpha, power = level(alpha, "alpha"), level(power, "power")
    z_sum = float(stats.norm.isf(alpha / 2.0) + stats.norm.ppf(power))
    if z_sum <= 0:
        raise ValueError(f"power ({power}) must exceed alpha / 2 ({alpha / 2})")
    return z_sum


def _design_effect(value: float) -> float:
    value = finite(value, "design_effect")
    if value <= 0:
        raise ValueError(f"design_effect must be > 0, got {value!r}")
    return value


def mde(
    sd_s: float | None,
    n_treatment: int,
    n_control: int,
    alpha: float = 0.05,
    power: float = 0.8,
    design_effect: float = 1.0,
) -> float | None:
    """Minimum detectable difference of means (seconds) for a two-sided test.

    MDE = (z_{1-alpha/2} + z_{power}) * sd * sqrt(deff) * sqrt(1/n_treatment + 1/n_control)
    (normal approximation, ignoring the opposite tail).

    Args:
        sd_s: Standard deviation of one selection time; None (unknown) gives None.
        n_treatment: Selections in treatment.
        n_control: Selections in control.
        alpha: Two-sided significance level.
        power: Probability of detecting a true difference of MDE.
        design_effect: Variance inflation from clustering (see `design_effect`), 1 for none.

    Returns:
        The MDE in seconds, or None when sd_s is None, an arm has no selections or the MDE is
        too large for a float.

    Raises:
        ValueError: For a negative sd or count, or alpha/power/design_effect out of range.
    """
    z_sum, deff = _z_sum(alpha, power), _design_effect(design_effect)
    n_treatment, n_control = whole_count(n_treatment, "n_treatment"), whole_count(n_control, "n_control")
    if sd_s is None or n_treatment == 0 or n_control == 0:
        return None
    sd = finite(sd_s, "sd_s")
    if sd < 0:
        raise ValueError(f"sd_s must be >= 0, got {sd_s!r}")
    difference = z_sum * sd * math.sqrt(deff * (1.0 / n_treatment + 1.0 / n_control))
    return difference if math.isfinite(difference) else None  # beyond a float: no detectable difference to give


@dataclass(frozen=True)
class PowerResult(ToDictMixin):
    """How many selections and days a holdout design needs to detect a saving.

    Attributes:
        days: Required selections / selections_per_day (fractional).
        whole_days: days rounded up.
        n_holdout: Selections needed in the holdout, ceil(N * holdout_share).
        n_treatment: Selections needed in treatment, ceil(N * (1 - holdout_share)).
        n_total: Total selections N needed (fractional, before rounding).
        saving_s, sd_s, selections_per_day, holdout_share, alpha, power, design_effect: The inputs.
        missing: Why the numbers are None, else None.
    """

    days: float | None
    whole_days: int | None
    n_holdout: int | None
    n_treatment: int | None
    n_total: float | None
    saving_s: float
    sd_s: float
    selections_per_day: float
    holdout_share: float
    alpha: float
    power: float
    design_effect: float
    missing: str | None = None


def days_to_detect(
    saving_s: float,
    sd_s: float,
    selections_per_day: float,
    holdout_share: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.8,
    design_effect: float = 1.0,
) -> PowerResult:
    """Days of traffic a holdout of `holdout_share` needs to detect `saving_s` with the given power.

    Solving MDE = saving for the total N with n_holdout = h N and n_treatment = (1 - h) N:
    N = (z_{1-alpha/2} + z_{power})**2 * sd**2 * deff * (1/h + 1/(1 - h)) / saving**2.

    Args:
        saving_s: The saving to detect, in seconds (its magnitude is used).
        sd_s: Standard deviation of one selection time.
        selections_per_day: Selections per day across all arms.
        holdout_share: Share of traffic in the holdout, in (0, 1).
        alpha: Two-sided significance level.
        power: Required power.
        design_effect: Variance inflation from clustering selections in interactions (1 for none).

    Returns:
        The design; `missing` explains a saving of 0 or an sd of 0 (nothing to size), or a design too
        large for a float (days overflow).

    Raises:
        ValueError: For non-finite inputs, a negative sd, a non-positive traffic, or shares/levels out of range.
    """
    z_sum, deff = _z_sum(alpha, power), _design_effect(design_effect)
    saving, sd = abs(finite(saving_s, "saving_s")), finite(sd_s, "sd_s")
    per_day, share = finite(selections_per_day, "selections_per_day"), finite(holdout_share, "holdout_share")
    if sd < 0:
        raise ValueError(f"sd_s must be >= 0, got {sd_s!r}")
    if per_day <= 0:
        raise ValueError(f"selections_per_day must be > 0, got {selections_per_day!r}")
    if not 0.0 < share < 1.0:
        raise ValueError(f"holdout_share must be strictly between 0 and 1, got {holdout_share!r}")
    inputs: dict[str, Any] = dict(
        saving_s=saving,
        sd_s=sd,
        selections_per_day=per_day,
        holdout_share=share,
        alpha=alpha,
        power=power,
        design_effect=deff,
    )
    if saving == 0:
        return PowerResult(None, None, None, None, None, **inputs, missing="a saving of 0 s cannot be detected")
    if sd == 0:
        return PowerResult(None, None, None, None, None, **inputs, missing="sd_s = 0: no noise to size against")
    ratio = z_sum * sd / saving
    # ratio * ratio rather than ratio ** 2: a float's ** raises OverflowError where * gives inf
    n_total = ratio * ratio * deff * (1.0 / share + 1.0 / (1.0 - share))
    days = n_total / per_day
    if not math.isfinite(days):
        reason = "the selections or days needed are too many to represent (saving far below sd_s)"
        return PowerResult(None, None, None, None, None, **inputs, missing=reason)
    return PowerResult(
        days=days,
        whole_days=math.ceil(days),
        n_holdout=math.ceil(n_total * share),
        n_treatment=math.ceil(n_total * (1.0 - share)),
        n_total=n_total,
        **inputs,
    )


def design_effect(selections: SampleSummary, clusters: ClusterSummary) -> float | None:
    """Kish design effect of clustering: the cluster-robust variance of the mean over the i.i.d. one.

    deff = Var_cluster(mean) / (s**2 / n), from the same selections summarised both ways; about
    1 + (m - 1) * ICC for clusters of size m. None when either variance is unavailable or zero.
    """
    clustered = clusters.variance_of_mean
    variance = selections.variance
    if clustered is None or variance is None or variance == 0:
        return None
    return clustered / (variance / selections.n)
