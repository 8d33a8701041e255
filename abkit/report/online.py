"""Online monitoring figures of each result: the always-valid sequence, CUPED and the guardrail.

For every version-vs-holdout result and every challenger comparison (docs/statistics.md, "Online
monitoring"): the confidence sequence of the interaction-level delta, the CUPED-adjusted delta
(phases combined as the primary delta is) with its own sequence, and case handle time as a
guardrail. The experiment's declared ``analysis`` picks what the verdict reads: "fixed" keeps the
fixed-horizon verdict; "sequential" reads the always-valid sequence (CUPED-adjusted when the
adjustment could be computed). Either way a guardrail that worsened significantly turns the
verdict into "do not ship: guardrail". The maths is in :mod:`abkit.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from abkit.assignment.config import Analysis
from abkit.report.arms import ArmComparison, clusters_of
from abkit.report.groups import ArmGroup, ArmKey, Plan
from abkit.stats import (
    DEFAULT_N_STAR,
    CupedResult,
    CupedSummary,
    GuardrailCheck,
    GuardrailResult,
    SampleSummary,
    SequentialResult,
    clustered_welch,
    confidence_sequence,
    cuped_result,
    guardrail_check,
    handle_time_guardrail,
    mean_delta,
    pooled_theta,
    stratified_summary,
)


@dataclass(frozen=True)
class CovariateGroup:
    """CUPED covariate sums of one (experiment, phase, model_version, arm) (see online_queries)."""

    experiment: str
    phase: int
    model_version: str
    arm: str
    k: int
    with_history: int
    sum_nx: float
    sum_n2x: float
    sum_n2x2: float
    sum_nxy: float


@dataclass(frozen=True)
class HandleTimeGroup:
    """Case handle times of one (experiment, model_version, arm), sums about ``low``."""

    experiment: str
    model_version: str
    arm: str
    n: int
    low: float
    total: float
    total_sq: float


@dataclass(frozen=True)
class OnlineGroups:
    """What the online figures need beyond the arm groups."""

    covariates: list[CovariateGroup]
    handle_times: list[HandleTimeGroup]
    pre_period_days: float


@dataclass(frozen=True)
class OnlineFigures:
    """The online figures of one result and the analysis its verdict used."""

    analysis: Analysis
    sequential: SequentialResult
    cuped: CupedResult
    cuped_sequential: SequentialResult
    interactions_with_history: int
    pre_period_days: float
    guardrail: GuardrailResult
    guardrail_check: GuardrailCheck


def _sequence(comparison: ArmComparison, n_star: int) -> SequentialResult:
    """The confidence sequence of the interaction-level delta (phases combined)."""
    welch = comparison.clustered
    units = comparison.interactions_treatment + comparison.interactions_control
    if welch.delta is None or welch.se is None:
        return SequentialResult(comparison.delta.delta_s, None, None, n_star, welch.missing, units)
    return confidence_sequence(welch.delta, welch.se * welch.se, units, n_star)


def _cuped(
    comparison: ArmComparison,
    keys: tuple[ArmKey, ArmKey],
    arms: Mapping[tuple[str, int, str, str], ArmGroup],
    covariates: Mapping[tuple[str, int, str, str], CovariateGroup],
    plan: Plan,
    labels: tuple[str, str],
) -> tuple[CupedResult, int]:
    """CUPED over the phases the comparison combines, with one theta pooled over arms and phases."""
    strata: list[tuple[CupedSummary, CupedSummary]] = []
    weights: list[float] = []
    with_history = 0
    for phase in comparison.phases:
        pair = []
        for experiment, version, arm in keys:
            group = arms[experiment, phase.phase, version, arm]
            sums = covariates.get((experiment, phase.phase, version, arm))
            clusters = clusters_of([group], plan.shift_of((experiment, version, arm)))
            if sums is None:  # no covariate row: every x_i is 0
                pair.append(CupedSummary(clusters, 0.0, 0.0, 0.0, 0.0))
                continue
            with_history += sums.with_history
            pair.append(CupedSummary(clusters, sums.sum_nx, sums.sum_n2x, sums.sum_n2x2, sums.sum_nxy))
        strata.append((pair[0], pair[1]))
        weights.append(pair[0].clusters.k + pair[1].clusters.k)
    if not strata:
        reason = comparison.delta.missing or "no phase with both arms"
        return CupedResult(None, None, None, None, reason), 0
    theta = pooled_theta(strata, weights)
    names = [[f"{label} (phase {ph.phase})" for ph in comparison.phases] for label in labels]
    adjusted = [stratified_summary([pair[j].adjusted(theta) for pair in strata], weights, names[j]) for j in (0, 1)]
    treatment, control = adjusted
    assert treatment is not None and control is not None
    delta = mean_delta(treatment, control, labels=labels)
    welch = clustered_welch(treatment, control, labels=labels)
    se = comparison.clustered.se
    units = comparison.interactions_treatment + comparison.interactions_control
    return cuped_result(delta, welch, None if se is None else se * se, theta, units), with_history


def _handle_time(groups: Mapping[ArmKey, HandleTimeGroup], key: ArmKey) -> SampleSummary:
    group = groups.get(key)
    if group is None:
        return SampleSummary.empty()
    return SampleSummary(group.n, group.low, group.total, group.total_sq)


def online_figures(
    comparison: ArmComparison,
    keys: tuple[ArmKey, ArmKey],
    labels: tuple[str, str],
    context: OnlineContext,
) -> OnlineFigures:
    """Sequence, CUPED (with its sequence) and guardrail of one result.

    Args:
        comparison: The result's two arms (interaction level, phases combined).
        keys: (experiment, model_version, arm) of the treatment and the control arm.
        labels: Names of the arms for missing reasons.
        context: The report's online groups, indexed (:func:`online_context`).
    """
    sequential = _sequence(comparison, context.n_star)
    cuped, with_history = _cuped(comparison, keys, context.arms, context.covariates, context.plan, labels)
    treatment, control = (_handle_time(context.handle_times, key) for key in keys)
    guardrail = handle_time_guardrail(treatment, control, labels=labels)
    analysis = context.analyses.get(keys[0][0], "fixed")
    guardrail_interval: GuardrailResult | SequentialResult = guardrail
    if analysis == "sequential" and guardrail.delta_s is not None and treatment.variance and control.variance:
        # read daily, the guardrail needs the always-valid interval too (cases are its units)
        variance = treatment.variance / treatment.n + control.variance / control.n
        guardrail_interval = confidence_sequence(guardrail.delta_s, variance, treatment.n + control.n, context.n_star)
    return OnlineFigures(
        analysis=analysis,
        sequential=sequential,
        cuped=cuped,
        cuped_sequential=cuped.sequential(context.n_star),
        interactions_with_history=with_history,
        pre_period_days=context.pre_period_days,
        guardrail=guardrail,
        guardrail_check=guardrail_check(comparison.delta, guardrail_interval),
    )


@dataclass(frozen=True)
class OnlineContext:
    """The report's online groups indexed by arm, and each experiment's analysis."""

    plan: Plan
    arms: Mapping[tuple[str, int, str, str], ArmGroup]
    covariates: Mapping[tuple[str, int, str, str], CovariateGroup]
    handle_times: Mapping[ArmKey, HandleTimeGroup]
    analyses: Mapping[str, Analysis]
    pre_period_days: float
    n_star: int = DEFAULT_N_STAR


def online_context(
    arms: Sequence[ArmGroup], online: OnlineGroups, plan: Plan, analyses: Mapping[str, Analysis]
) -> OnlineContext:
    """Index the groups by (experiment, phase, model_version, arm) and (experiment, model_version, arm)."""
    return OnlineContext(
        plan=plan,
        arms={(g.experiment, g.phase, g.model_version, g.arm): g for g in arms},
        covariates={(g.experiment, g.phase, g.model_version, g.arm): g for g in online.covariates},
        handle_times={(g.experiment, g.model_version, g.arm): g for g in online.handle_times},
        analyses=analyses,
        pre_period_days=online.pre_period_days,
    )
