"""The power of a running experiment: what each comparison can detect after 7/14/28 days, and when a saving shows."""

from __future__ import annotations

from typing import Literal

from abkit.report.contract.base import Contract, Figure, Timestamp


class PowerTraffic(Contract):
    """The recent traffic the plan is measured on."""

    since: Timestamp
    """First selection measured (naive UTC)."""
    until: Timestamp
    """Last selection measured: the window ends here, not at the clock."""
    days: float
    interactions_per_day: float
    """Interactions (the randomisation unit) a day across all arms."""
    selections_per_interaction: float


class PowerCuped(Contract):
    """The CUPED covariate's correlation with the outcome, pooled within arms."""

    rho: Figure
    """Null when the covariate does not vary (no pre-period history): no CUPED figures."""
    pre_period_days: float


class DetectableSaving(Contract):
    """The smallest saving (s) detectable with the plan's power after ``days`` days."""

    days: float
    interactions: float
    """Interactions in both arms by then: the confidence sequence's N."""
    fixed: float
    """Fixed-horizon test read once on day ``days``."""
    cuped: Figure
    """The same with CUPED (variance times 1 - rho^2); null without rho."""
    sequential: float
    """Read from the always-valid confidence sequence, which may be read every day."""
    sequential_cuped: Figure
    sequential_penalty: float
    """The sequence's half-width over the fixed test's at this N."""


class DaysToDetect(Contract):
    """Days of traffic needed to detect ``saving_s``; null: more than ten years, or no CUPED figure."""

    saving_s: float
    fixed: Figure
    cuped: Figure
    sequential: Figure
    sequential_cuped: Figure


class ComparisonPower(Contract):
    """One comparison of two arms under the configured weights."""

    treatment: str
    control: str
    interactions_per_day: tuple[float, float]
    """(treatment, control)."""
    variance_per_interaction_s2: tuple[float, float]
    """k Var(mean) of (treatment, control): the ratio-mean variance per interaction."""
    se_one_day_s: float
    """Standard error of the delta after one day of traffic."""
    alpha: float
    power: float
    n_star: int
    """Tuning of the confidence sequence (interactions where it is tightest), as the report's."""
    mde_s: tuple[DetectableSaving, ...]
    days_to_detect: DaysToDetect


class ExperimentPower(Contract):
    """What a running experiment can detect, from its latest traffic (``abkit power`` prints one)."""

    experiment: str
    analysis: Literal["sequential", "fixed"]
    """Which figures the experiment's verdict reads."""
    weights: dict[str, float]
    """The weights planned for, holdout first."""
    weights_from: str
    """"experiments file", "phase N" (latest recorded) or "observed shares"."""
    traffic: PowerTraffic
    cuped: PowerCuped
    comparisons: tuple[ComparisonPower, ...]
    """Each version against the holdout, then each later version against each earlier one."""
    notes: tuple[str, ...]
