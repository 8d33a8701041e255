"""Online monitoring figures of each result: the always-valid sequence, CUPED and the guardrail.

For every version-vs-holdout result and every challenger comparison (docs/statistics.md, "Online
monitoring"): the confidence sequence of the interaction-level delta, the CUPED-adjusted delta
(phases combined as the primary delta is) with its own sequence, and case handle time as a
guardrail (compared within each phase, phases combined as the primary delta). The experiment's declared ``analysis`` picks what the verdict reads: "fixed" keeps the
fixed-horizon verdict; "sequential" reads the always-valid sequence (CUPED-adjusted when the
adjustment could be computed). Either way a guardrail that worsened significantly turns the
verdict into "do not ship: guardrail". The maths is in :mod:`abkit.stats`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from abkit.assignment.config import Analysis
from abkit.report.arms import ArmComparison, clusters_of
from abkit.report.groups import ArmGroup, ArmKey, Plan
from abkit.report.online_sequence import GrainGroup, SequencePoint, confidence_sequence_by_bucket
from abkit.stats import (
    DEFAULT_N_STAR,
    CupedResult,
    CupedSummary,
    GuardrailCheck,
    GuardrailResult,
    SampleSummary,
    SequentialResult,
    confidence_sequence,
    guardrail_check,
    stratified_cuped_delta,
    stratified_guardrail,
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
    """Case handle times of one (experiment, phase, model_version, arm), sums about ``low``.

    A case is in the phase in force at its first selection in the arm.
    """

    experiment: str
    phase: int
    model_version: str
    arm: str
    n: int
    low: float
    total: float
    total_sq: float


@dataclass(frozen=True)
class OnlineGroups:
    """What the online figures need beyond the arm groups.

    ``grains``: interaction and covariate sums per arm, phase and bucket of the interactions' first
    selection (the confidence sequence over time); ``covariates`` are their roll-up over the buckets.
    """

    covariates: list[CovariateGroup]
    handle_times: list[HandleTimeGroup]
    pre_period_days: float
    grains: Sequence[GrainGroup] = ()


def covariate_groups(grains: Sequence[GrainGroup]) -> list[CovariateGroup]:
    """The whole window's CUPED covariate sums per (experiment, phase, model_version, arm): the buckets' sums."""
    rolled: dict[tuple[str, int, str, str], list[float]] = {}
    for g in grains:
        sums = rolled.setdefault((g.experiment, g.phase, g.model_version, g.arm), [0, 0, 0.0, 0.0, 0.0, 0.0])
        for index, value in enumerate((g.k, g.with_history, g.sum_nx, g.sum_n2x, g.sum_n2x2, g.sum_nxy)):
            sums[index] += value
    return [
        CovariateGroup(e, phase, version, arm, int(k), int(history), nx, n2x, n2x2, nxy)
        for (e, phase, version, arm), (k, history, nx, n2x, n2x2, nxy) in sorted(rolled.items())
    ]


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
    sequence: tuple[SequencePoint, ...] = ()
    sequence_cuped: bool = False


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
    context: OnlineContext,
    labels: tuple[str, str],
) -> tuple[CupedResult, int]:
    """CUPED over the phases the comparison combines, with one theta pooled over arms and phases."""
    strata: list[tuple[CupedSummary, CupedSummary]] = []
    weights: list[float] = []
    with_history = 0
    for phase in comparison.phases:
        pair = []
        for experiment, version, arm in keys:
            group = context.arms[experiment, phase.phase, version, arm]
            sums = context.covariates.get((experiment, phase.phase, version, arm))
            clusters = clusters_of([group], context.plan.shift_of((experiment, version, arm)))
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
    names = [f"phase {ph.phase}" for ph in comparison.phases]
    return stratified_cuped_delta(strata, weights, labels, names), with_history


def _guardrail(
    comparison: ArmComparison, keys: tuple[ArmKey, ArmKey], context: OnlineContext, labels: tuple[str, str]
) -> GuardrailResult:
    """Case handle time compared within each phase the comparison combines, weighted as its delta."""
    strata = []
    for phase in comparison.phases:
        pair = []
        for experiment, version, arm in keys:
            group = context.handle_times.get((experiment, phase.phase, version, arm))
            pair.append(
                SampleSummary.empty()
                if group is None
                else SampleSummary(group.n, group.low, group.total, group.total_sq)
            )
        strata.append((pair[0], pair[1]))
    weights = [phase.treatment_interactions + phase.control_interactions for phase in comparison.phases]
    names = [f"phase {phase.phase}" for phase in comparison.phases]
    return stratified_guardrail(strata, weights, labels=labels, stratum_names=names)


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
    cuped, with_history = _cuped(comparison, keys, context, labels)
    cuped_sequential = cuped.sequential(context.n_star)
    # the looks read what the sequential verdict reads: the adjusted sequence when it was computed
    adjusted = cuped.missing is None and cuped_sequential.ci95_s is not None
    sequence = confidence_sequence_by_bucket(
        context.grains.get(keys[0], ()),
        context.grains.get(keys[1], ()),
        shifts=(context.plan.shift_of(keys[0]), context.plan.shift_of(keys[1])),
        phases=[phase.phase for phase in comparison.phases],
        plan=context.plan,
        labels=labels,
        adjusted=adjusted,
        n_star=context.n_star,
    )
    guardrail = _guardrail(comparison, keys, context, labels)
    analysis = context.analyses.get(keys[0][0], "fixed")
    guardrail_interval: GuardrailResult | SequentialResult = guardrail
    if analysis == "sequential" and guardrail.delta_s is not None and guardrail.se:
        # read daily, the guardrail needs the always-valid interval too (cases are its units)
        units = guardrail.n_treatment + guardrail.n_control
        guardrail_interval = confidence_sequence(guardrail.delta_s, guardrail.se**2, units, context.n_star)
    return OnlineFigures(
        analysis=analysis,
        sequential=sequential,
        cuped=cuped,
        cuped_sequential=cuped_sequential,
        interactions_with_history=with_history,
        pre_period_days=context.pre_period_days,
        guardrail=guardrail,
        guardrail_check=guardrail_check(comparison.delta, guardrail_interval),
        sequence=sequence,
        sequence_cuped=adjusted and bool(sequence),
    )


@dataclass(frozen=True)
class OnlineContext:
    """The report's online groups indexed by arm, and each experiment's analysis."""

    plan: Plan
    arms: Mapping[tuple[str, int, str, str], ArmGroup]
    covariates: Mapping[tuple[str, int, str, str], CovariateGroup]
    handle_times: Mapping[tuple[str, int, str, str], HandleTimeGroup]
    analyses: Mapping[str, Analysis]
    pre_period_days: float
    n_star: int = DEFAULT_N_STAR
    grains: Mapping[ArmKey, Sequence[GrainGroup]] = dataclasses.field(default_factory=dict)


def online_context(
    arms: Sequence[ArmGroup],
    online: OnlineGroups,
    plan: Plan,
    analyses: Mapping[str, Analysis],
) -> OnlineContext:
    """Index the groups by (experiment, phase, model_version, arm), the buckets' by (experiment, model_version, arm)."""
    grains: dict[ArmKey, list[GrainGroup]] = {}
    for g in online.grains:
        grains.setdefault((g.experiment, g.model_version, g.arm), []).append(g)
    return OnlineContext(
        plan=plan,
        arms={(g.experiment, g.phase, g.model_version, g.arm): g for g in arms},
        covariates={(g.experiment, g.phase, g.model_version, g.arm): g for g in online.covariates},
        handle_times={(g.experiment, g.phase, g.model_version, g.arm): g for g in online.handle_times},
        analyses=analyses,
        pre_period_days=online.pre_period_days,
        grains=grains,
    )
