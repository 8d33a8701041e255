"""Planning a comparison from traffic: the saving it can detect after so many days, and the days a saving needs.

Inputs are what an event store shows of an experiment's recent traffic: interactions (the
randomisation unit) per day in each arm, and each arm's variance per interaction,

    v = k Var(mean) = sum_i (y_i - r n_i)**2 / (k - 1) / nbar**2

(the ratio-mean variance of `ClusterSummary.variance_of_mean` times k, so that selections per
interaction and their correlation, the design effect, are inside it). After d days with u_t and u_c
interactions a day in the two arms, the delta's standard error is

    se(d) = sqrt(V1 / d),  V1 = v_t / u_t + v_c / u_c

and, with z_a = z_{1 - alpha/2}, z_b = z_power (normal approximation, opposite tail ignored):

- fixed horizon: MDE(d) = (z_a + z_b) se(d); the days for a saving S solve MDE(d) = S in closed form,
  d = (z_a + z_b)**2 V1 / S**2;
- CUPED: every variance times 1 - rho**2, rho the outcome's correlation with the covariate
  (`covariate_correlation`), so MDE and days shrink by sqrt(1 - rho**2) and 1 - rho**2;
- sequential: the always-valid confidence sequence's half-width after N = (u_t + u_c) d units is
  c(N) se(d) (`boundary_multiplier`, the report's tuning n_star), so a true delta of
  MDE(d) = (c(N) + z_b) se(d) makes the sequence exclude 0 at day d with the given power (GrowthBook's
  mid-experiment power uses the same half-width). The penalty c(N) / z_a is the ratio of the two
  half-widths. MDE(d) falls with d (c grows only like sqrt(log N)), so the days are found by
  bisection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, stats

from abkit.stats._checks import finite, level
from abkit.stats._result import ToDictMixin
from abkit.stats.cluster import ClusterSummary
from abkit.stats.sequential import DEFAULT_N_STAR, boundary_multiplier

DEFAULT_HORIZONS_DAYS = (7, 14, 28)
# A saving that needs longer than this is reported as out of reach rather than as a number of days.
MAX_PLANNING_DAYS = 3650.0


def interaction_variance(clusters: ClusterSummary) -> float | None:
    """Variance per interaction of an arm's mean selection time, k Var(mean) (s**2); None when k < 2."""
    variance = clusters.variance_of_mean
    return None if variance is None else clusters.k * variance


@dataclass(frozen=True)
class Detectable(ToDictMixin):
    """The smallest saving (seconds, at the given power) detectable after `days` of traffic.

    Attributes:
        days: The horizon.
        interactions: Interactions in both arms by then (the N of the confidence sequence).
        fixed_s: Fixed-horizon MDE.
        cuped_s: Fixed-horizon MDE with CUPED (None when no correlation was measured).
        sequential_s: MDE read from the always-valid confidence sequence at day `days`.
        sequential_cuped_s: The same with CUPED.
        sequential_penalty: Half-width of the confidence sequence over the fixed one at this N.
    """

    days: float
    interactions: float
    fixed_s: float
    cuped_s: float | None
    sequential_s: float
    sequential_cuped_s: float | None
    sequential_penalty: float


@dataclass(frozen=True)
class DaysNeeded(ToDictMixin):
    """Days of traffic needed to detect `saving_s` (None: more than MAX_PLANNING_DAYS, or no CUPED figure)."""

    saving_s: float
    fixed: float | None
    cuped: float | None
    sequential: float | None
    sequential_cuped: float | None


@dataclass(frozen=True)
class ComparisonPlan(ToDictMixin):
    """What a comparison of two arms can detect, and when.

    Attributes:
        treatment, control: The arms.
        interactions_per_day: Interactions a day in (treatment, control).
        variance_per_interaction: v of (treatment, control), s**2.
        se_one_day_s: Standard error of the delta after one day, sqrt(V1).
        cuped_rho: Correlation used for CUPED (None: not measured, no CUPED figures).
        horizons: One `Detectable` per horizon.
        days_to_detect: Days needed for the planned saving.
        alpha, power, n_star: The test's level, the power asked for and the sequence's tuning.
    """

    treatment: str
    control: str
    interactions_per_day: tuple[float, float]
    variance_per_interaction: tuple[float, float]
    se_one_day_s: float
    cuped_rho: float | None
    horizons: tuple[Detectable, ...]
    days_to_detect: DaysNeeded
    alpha: float
    power: float
    n_star: int


def _multipliers(alpha: float, power: float) -> tuple[float, float]:
    level(alpha, "alpha")
    level(power, "power")
    return float(stats.norm.isf(alpha / 2.0)), float(stats.norm.ppf(power))


def _positive(value: float, name: str) -> float:
    value = finite(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def _sequential_days(
    target: float, se_one_day: float, units_per_day: float, z_power: float, n_star: int, confidence: float
) -> float | None:
    """Smallest d with (c(units_per_day d) + z_power) se_one_day / sqrt(d) <= target (bisection)."""

    def excess(days: float) -> float:
        multiplier = boundary_multiplier(units_per_day * days, n_star, confidence)
        return (multiplier + z_power) * se_one_day / math.sqrt(days) - target

    if excess(MAX_PLANNING_DAYS) > 0:
        return None
    # c(N) / sqrt(d) grows like 1 / d as d -> 0, so the excess is positive at a small enough d
    low = 1e-6
    if excess(low) <= 0:
        return low
    return float(optimize.brentq(excess, low, MAX_PLANNING_DAYS, xtol=1e-12, rtol=1e-12))


def plan_comparison(
    arms: tuple[str, str],
    interactions_per_day: tuple[float, float],
    variance_per_interaction: tuple[float, float],
    saving_s: float,
    *,
    cuped_rho: float | None = None,
    horizons_days: tuple[float, ...] = DEFAULT_HORIZONS_DAYS,
    alpha: float = 0.05,
    power: float = 0.8,
    n_star: int = DEFAULT_N_STAR,
) -> ComparisonPlan:
    """MDE after each horizon and the days needed for `saving_s`, fixed and sequential, with and without CUPED.

    Args:
        arms: (treatment, control) names.
        interactions_per_day: Interactions a day expected in each arm (the configured weight times
            the experiment's traffic).
        variance_per_interaction: Each arm's `interaction_variance`.
        saving_s: The saving to plan for, in seconds (its magnitude is used).
        cuped_rho: Correlation of the outcome with the CUPED covariate; None leaves the CUPED figures None.
        horizons_days: Days after which to state the MDE.
        alpha: Two-sided level of the test (and 1 - confidence of the sequence).
        power: Power asked for.
        n_star: Tuning of the confidence sequence (the report's).

    Raises:
        ValueError: For a non-positive traffic, variance, saving or horizon, or a rho outside [-1, 1].
    """
    z_alpha, z_power = _multipliers(alpha, power)
    per_day = tuple(
        _positive(value, f"interactions_per_day[{arms[j]}]") for j, value in enumerate(interactions_per_day)
    )
    variances = tuple(
        _positive(value, f"variance_per_interaction[{arms[j]}]") for j, value in enumerate(variance_per_interaction)
    )
    saving = abs(finite(saving_s, "saving_s"))
    if saving == 0:
        raise ValueError("saving_s must not be 0: a saving of 0 s cannot be detected")
    if cuped_rho is not None and not -1.0 <= finite(cuped_rho, "cuped_rho") <= 1.0:
        raise ValueError(f"cuped_rho must be in [-1, 1], got {cuped_rho!r}")
    se_one_day = math.sqrt(variances[0] / per_day[0] + variances[1] / per_day[1])
    units_per_day = per_day[0] + per_day[1]
    shrink = None if cuped_rho is None else math.sqrt(1.0 - cuped_rho * cuped_rho)
    confidence = 1.0 - alpha

    def scaled(value: float) -> float | None:
        return None if shrink is None else value * shrink

    rows = []
    for horizon in horizons_days:
        days = _positive(horizon, "horizon")
        se = se_one_day / math.sqrt(days)
        multiplier = boundary_multiplier(units_per_day * days, n_star, confidence)
        fixed, sequential = (z_alpha + z_power) * se, (multiplier + z_power) * se
        rows.append(
            Detectable(
                days, units_per_day * days, fixed, scaled(fixed), sequential, scaled(sequential), multiplier / z_alpha
            )
        )

    def fixed_days(se_day: float) -> float | None:
        ratio = (z_alpha + z_power) * se_day / saving
        days = ratio * ratio  # not ** 2, which raises OverflowError where * gives inf (out of reach)
        return days if days <= MAX_PLANNING_DAYS else None

    def sequential_days(se_day: float) -> float | None:
        return _sequential_days(saving, se_day, units_per_day, z_power, n_star, confidence)

    needed = DaysNeeded(
        saving_s=saving,
        fixed=fixed_days(se_one_day),
        cuped=None if shrink is None else fixed_days(se_one_day * shrink),
        sequential=sequential_days(se_one_day),
        sequential_cuped=None if shrink is None else sequential_days(se_one_day * shrink),
    )
    return ComparisonPlan(
        treatment=arms[0],
        control=arms[1],
        interactions_per_day=(per_day[0], per_day[1]),
        variance_per_interaction=(variances[0], variances[1]),
        se_one_day_s=se_one_day,
        cuped_rho=cuped_rho,
        horizons=tuple(rows),
        days_to_detect=needed,
        alpha=alpha,
        power=power,
        n_star=n_star,
    )
