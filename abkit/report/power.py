"""Power of running experiments: what each comparison can detect after 7/14/28 days, and when a saving shows.

Traffic and variance come from the last days of the event store (:mod:`abkit.report.power_queries`):
interactions a day across the experiment's arms, each arm's variance per interaction (the
ratio-mean variance with selections per interaction inside it, as the report's clustered figures)
and the outcome's correlation with the report's CUPED covariate. The experiment's configured
weights split the traffic between the arms; the maths is :func:`abkit.stats.plan_comparison`.
``abkit power`` prints one experiment's; the report carries every running experiment's, so the
dashboard shows them from the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from abkit.assignment.config import Analysis
from abkit.events.columns import HOLDOUT_ARM
from abkit.report.contract import power as contract
from abkit.report.groups import ArmBounds, Phase, Window, before
from abkit.report.power_queries import PowerGroup
from abkit.stats import (
    DEFAULT_N_STAR,
    ClusterSummary,
    ComparisonPlan,
    CupedSummary,
    covariate_correlation,
    interaction_variance,
    plan_comparison,
)

# Days of recent traffic that measure an experiment's rate and variance (two whole weeks: weekdays and weekends).
DEFAULT_POWER_DAYS = 14.0

Weights = tuple[tuple[str, float], ...]


class NoTraffic(ValueError):
    """An experiment without enough recent traffic to plan from, with the reason."""


@dataclass(frozen=True)
class ExperimentPower:
    """Power of one experiment's comparisons under its configured weights.

    Attributes:
        experiment: The experiment.
        analysis: How its verdicts are read ("sequential" or "fixed"): which columns decide.
        weights: (arm, weight) the plan assumes, holdout first.
        weights_from: Where they come from ("experiments file", "phase 2", "observed shares").
        since, until: First and last selection of the measured traffic.
        interactions_per_day: Interactions a day across all arms.
        selections_per_interaction: Mean selections per interaction.
        cuped_rho: Correlation of the outcome with the CUPED covariate (None: not measurable).
        pre_period_days: The covariate's pre-period.
        comparisons: One plan per comparison: each version against the holdout, then version pairs.
        notes: What the reader should know (an arm without traffic, CUPED unavailable).
    """

    experiment: str
    analysis: Analysis
    weights: Weights
    weights_from: str
    since: datetime
    until: datetime
    interactions_per_day: float
    selections_per_interaction: float
    cuped_rho: float | None
    pre_period_days: float
    comparisons: tuple[ComparisonPlan, ...]
    notes: tuple[str, ...]

    @property
    def days_observed(self) -> float:
        return (self.until - self.since).total_seconds() / 86400.0

    def published(self) -> contract.ExperimentPower:
        """The ``power`` entry of the report (docs/report-schema.md) and ``abkit power --json``."""
        return contract.ExperimentPower(
            experiment=self.experiment,
            analysis=self.analysis,
            weights=dict(self.weights),
            weights_from=self.weights_from,
            traffic=contract.PowerTraffic(
                since=self.since.isoformat(),
                until=self.until.isoformat(),
                days=self.days_observed,
                interactions_per_day=self.interactions_per_day,
                selections_per_interaction=self.selections_per_interaction,
            ),
            cuped=contract.PowerCuped(rho=self.cuped_rho, pre_period_days=self.pre_period_days),
            comparisons=tuple(_published_comparison(plan) for plan in self.comparisons),
            notes=self.notes,
        )


def _published_comparison(plan: ComparisonPlan) -> contract.ComparisonPower:
    needed = plan.days_to_detect
    return contract.ComparisonPower(
        treatment=plan.treatment,
        control=plan.control,
        interactions_per_day=plan.interactions_per_day,
        variance_per_interaction_s2=plan.variance_per_interaction,
        se_one_day_s=plan.se_one_day_s,
        alpha=plan.alpha,
        power=plan.power,
        n_star=plan.n_star,
        mde_s=tuple(
            contract.DetectableSaving(
                days=row.days,
                interactions=row.interactions,
                fixed=row.fixed_s,
                cuped=row.cuped_s,
                sequential=row.sequential_s,
                sequential_cuped=row.sequential_cuped_s,
                sequential_penalty=row.sequential_penalty,
            )
            for row in plan.horizons
        ),
        days_to_detect=contract.DaysToDetect(
            saving_s=needed.saving_s,
            fixed=needed.fixed,
            cuped=needed.cuped,
            sequential=needed.sequential,
            sequential_cuped=needed.sequential_cuped,
        ),
    )


def recent_window(bounds: Sequence[ArmBounds], window: Window, days: float) -> Window | None:
    """The last ``days`` of the traffic in ``bounds``: from its last selection back, inside ``window``.

    Ending at the last selection (not at the clock) keeps a replayed or paused store plannable.
    None when there is no traffic.
    """
    if not bounds:
        return None
    end = max(b.last_seen for b in bounds)
    since = before(end, timedelta(days=days))
    if window.since is not None:
        since = max(since, window.since)
    return Window(window.experiment, since, window.until)


def _arm_sums(groups: Sequence[PowerGroup]) -> dict[str, tuple[ClusterSummary, CupedSummary]]:
    """Each arm's interaction-level and covariate sums, model versions combined."""
    arms: dict[str, tuple[ClusterSummary, CupedSummary]] = {}
    for g in groups:
        clusters = ClusterSummary(g.k, g.n, g.sum_y, g.sum_n2, g.sum_y2, g.sum_ny, g.shift)
        cuped = CupedSummary(clusters, g.sum_nx, g.sum_n2x, g.sum_n2x2, g.sum_nxy)
        if g.arm in arms:
            clusters, cuped = arms[g.arm][0] + clusters, arms[g.arm][1] + cuped
        arms[g.arm] = (clusters, cuped)
    return arms


def _pairs(arms: Sequence[str]) -> list[tuple[str, str]]:
    """(treatment, control): each version against the holdout, then each later version against each earlier one."""
    versions = [arm for arm in arms if arm != HOLDOUT_ARM]
    pairs = [(version, HOLDOUT_ARM) for version in versions if HOLDOUT_ARM in arms]
    pairs += [(later, earlier) for j, earlier in enumerate(versions) for later in versions[j + 1 :]]
    return pairs


def experiment_power(
    experiment: str,
    groups: Sequence[PowerGroup],
    saving_s: float,
    *,
    weights: Weights | None = None,
    weights_from: str = "observed shares",
    analysis: Analysis = "fixed",
    pre_period_days: float,
    n_star: int = DEFAULT_N_STAR,
) -> ExperimentPower:
    """Plan one experiment's comparisons from its recent groups.

    Args:
        experiment: The experiment.
        groups: Its :class:`PowerGroup` rows (recent window).
        saving_s: The saving whose days to detect are stated.
        weights: Configured (arm, weight), holdout first; None: the observed shares of interactions.
        weights_from: Where ``weights`` come from, for the reader.
        analysis: The experiment's analysis.
        pre_period_days: The CUPED covariate's pre-period (stated in the output).
        n_star: Tuning of the confidence sequence.

    Raises:
        NoTraffic: Fewer than 2 interactions, a single instant of traffic, or no arm to measure a variance in.
        ValueError: A non-positive saving.
    """
    arms = _arm_sums(groups)
    k_total = sum(clusters.k for clusters, _ in arms.values())
    if k_total < 2:
        raise NoTraffic(f"experiment {experiment!r}: {k_total} interaction(s) in the window, need at least 2")
    since, until = min(g.first_seen for g in groups), max(g.last_seen for g in groups)
    days = (until - since).total_seconds() / 86400.0
    if days <= 0:
        raise NoTraffic(f"experiment {experiment!r}: all traffic in the window came at one instant ({until})")
    per_day = k_total / days
    # a plan needs a positive variance: an arm of fewer than 2 interactions, or of equal values, has none
    measured = {
        arm: v for arm, (clusters, _) in arms.items() if (v := interaction_variance(clusters)) is not None and v > 0
    }
    if not measured:
        raise NoTraffic(f"experiment {experiment!r}: no arm has 2 interactions that differ to measure a variance from")
    if weights is None:
        ordered = sorted(arms, key=lambda arm: (arm != HOLDOUT_ARM, arm))
        weights = tuple((arm, arms[arm][0].k / k_total) for arm in ordered)
        weights_from = "observed shares"
    notes = []
    versions = {arm: v for arm, v in measured.items() if arm != HOLDOUT_ARM} or measured
    fallback = sum(arms[arm][0].k * v for arm, v in versions.items()) / sum(arms[arm][0].k for arm in versions)
    for arm, _ in weights:
        if arm not in measured:
            notes.append(
                f"{arm}: fewer than 2 interactions in the window, or no variation between them; its variance is that"
                f" of {', '.join(sorted(versions))}"
            )
    rho = covariate_correlation([cuped for _, cuped in arms.values()])
    if rho is None:
        notes.append("CUPED: the covariate does not vary (no advocate has pre-period history); no CUPED figures")
    share = dict(weights)
    comparisons = tuple(
        plan_comparison(
            (treatment, control),
            (share[treatment] * per_day, share[control] * per_day),
            (measured.get(treatment, fallback), measured.get(control, fallback)),
            saving_s,
            cuped_rho=rho,
            n_star=n_star,
        )
        for treatment, control in _pairs([arm for arm, _ in weights])
    )
    n_total = sum(clusters.sum_n for clusters, _ in arms.values())
    return ExperimentPower(
        experiment=experiment,
        analysis=analysis,
        weights=weights,
        weights_from=weights_from,
        since=since,
        until=until,
        interactions_per_day=per_day,
        selections_per_interaction=n_total / k_total,
        cuped_rho=rho,
        pre_period_days=pre_period_days,
        comparisons=comparisons,
        notes=tuple(notes),
    )


def latest_weights(phases: Sequence[Phase], experiment: str) -> tuple[Weights, str] | None:
    """The weights of the experiment's latest recorded phase and where they come from, or None."""
    recorded = [phase for phase in phases if phase.experiment == experiment]
    if not recorded:
        return None
    latest = max(recorded, key=lambda phase: phase.phase)
    return latest.arms, f"phase {latest.phase}"


def running_power(
    groups: Sequence[PowerGroup],
    phases: Sequence[Phase],
    analyses: Mapping[str, Analysis],
    saving_s: float,
    pre_period_days: float,
) -> tuple[ExperimentPower, ...]:
    """The power of every experiment with enough recent traffic, under its latest phase's weights."""
    by_experiment: dict[str, list[PowerGroup]] = {}
    for group in groups:
        by_experiment.setdefault(group.experiment, []).append(group)
    plans = []
    for experiment, rows in sorted(by_experiment.items()):
        configured = latest_weights(phases, experiment)
        try:
            plans.append(
                experiment_power(
                    experiment,
                    rows,
                    saving_s,
                    weights=None if configured is None else configured[0],
                    weights_from="observed shares" if configured is None else configured[1],
                    analysis=analyses.get(experiment, "fixed"),
                    pre_period_days=pre_period_days,
                )
            )
        except NoTraffic:
            continue  # not running: nothing to plan
    return tuple(plans)
