"""Comparing two arms of one experiment within each phase, and combining the phases.

Both kinds of result in the report (a version against its holdout, a challenger against its
baseline) are the same computation: the two arms' interaction-level summaries in every phase
where both have interactions, a stratified combination across those phases weighted by phase
size (so that a ramp cannot confound time and arm), and the selection-level Welch test of the
published system beside it, over the same selections.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from abkit.report.groups import ArmGroup
from abkit.stats import (
    ClusterSummary,
    DeltaResult,
    SampleSummary,
    SrmResult,
    WelchResult,
    clustered_welch,
    mde,
    mean_delta,
    stratified_summary,
    welch_test,
)


def sample_of(groups: Iterable[ArmGroup], shift: float) -> SampleSummary:
    """Selection-level sums of the groups (each group's sums are about ``shift``)."""
    return sum((SampleSummary(g.n, shift, g.total, g.total_sq) for g in groups), SampleSummary.empty(shift))


def clusters_of(groups: Iterable[ArmGroup], shift: float) -> ClusterSummary:
    """Interaction-level sums of the groups; interactions are disjoint across groups."""
    return sum(
        (ClusterSummary(g.k, g.n, g.total, g.sum_n2, g.sum_y2, g.sum_ny, shift) for g in groups),
        ClusterSummary.empty(shift),
    )


@dataclass(frozen=True)
class PhaseComparison:
    """The two arms within one phase: interactions, interaction-level delta and the phase's SRM."""

    phase: int
    started_at: datetime | None
    ended_at: datetime | None
    weights: dict[str, float]
    treatment_interactions: int
    control_interactions: int
    treatment_selections: int
    control_selections: int
    delta: DeltaResult
    srm: SrmResult


@dataclass(frozen=True)
class ArmComparison:
    """Treatment against control, stratified by phase; the selection-level figures beside it."""

    treatment: SampleSummary
    control: SampleSummary
    interactions_treatment: int
    interactions_control: int
    delta: DeltaResult  # interaction level, phases combined: the primary figures
    clustered: WelchResult
    selection_delta: DeltaResult  # selection level over the same selections (published method)
    welch: WelchResult
    phases: tuple[PhaseComparison, ...]
    design_effect: float | None
    mde_s: float | None
    mde_s_missing: str | None


@dataclass(frozen=True)
class PhaseInfo:
    """What the comparison needs of one phase: when it ran, its weights and its SRM."""

    phase: int
    started_at: datetime | None
    ended_at: datetime | None
    weights: dict[str, float]
    srm: SrmResult


def compare_arms(
    treatment: Sequence[ArmGroup],
    control: Sequence[ArmGroup],
    shifts: tuple[float, float],
    phases: dict[int, PhaseInfo],
    labels: tuple[str, str],
    *,
    not_side_by_side: str | None = None,
) -> ArmComparison:
    """Compare two arms over the phases where both have interactions.

    Args:
        treatment: The treatment arm's groups (one per phase).
        control: The control arm's groups (one per phase).
        shifts: The shift of each arm's sums (treatment, control).
        phases: Phase number -> its information, for every phase of the experiment.
        labels: Names of the arms for missing reasons.
        not_side_by_side: When the arms were not randomised together, why: no phase is shared and
            every interval is null with this reason.
    """
    by_phase_t = {g.phase: g for g in treatment}
    by_phase_c = {g.phase: g for g in control}
    shared = [] if not_side_by_side else sorted(set(by_phase_t) & set(by_phase_c))
    # Compared over the shared phases; with none, each arm's own selections still say what it
    # served (its n, mean and sd), while every figure of the comparison is null with the reason.
    t_groups = [by_phase_t[p] for p in shared] if shared else list(treatment)
    c_groups = [by_phase_c[p] for p in shared] if shared else list(control)
    selection_t, selection_c = sample_of(t_groups, shifts[0]), sample_of(c_groups, shifts[1])
    if shared:
        selection_delta = mean_delta(selection_t, selection_c, labels=labels)
        welch = welch_test(selection_t, selection_c, labels=labels)
    else:
        reason = not_side_by_side or _no_shared_phase(by_phase_t, by_phase_c, labels)
        selection_delta = DeltaResult(None, None, None, None, missing=reason, pct_missing=reason)
        welch = WelchResult.unavailable(reason)
    per_phase = []
    strata_t: list[ClusterSummary] = []
    strata_c: list[ClusterSummary] = []
    weights: list[float] = []
    for p in shared:
        cluster_t, cluster_c = clusters_of([by_phase_t[p]], shifts[0]), clusters_of([by_phase_c[p]], shifts[1])
        info = phases[p]
        per_phase.append(
            PhaseComparison(
                phase=p,
                started_at=info.started_at,
                ended_at=info.ended_at,
                weights=info.weights,
                treatment_interactions=cluster_t.k,
                control_interactions=cluster_c.k,
                treatment_selections=cluster_t.sum_n,
                control_selections=cluster_c.sum_n,
                delta=mean_delta(cluster_t, cluster_c, labels=labels),
                srm=info.srm,
            )
        )
        strata_t.append(cluster_t)
        strata_c.append(cluster_c)
        weights.append(cluster_t.k + cluster_c.k)  # phase size: its interactions in both arms
    if not shared:
        delta, clustered = selection_delta, welch
    else:
        combined_t = stratified_summary(strata_t, weights, [f"{labels[0]} (phase {p})" for p in shared])
        combined_c = stratified_summary(strata_c, weights, [f"{labels[1]} (phase {p})" for p in shared])
        assert combined_t is not None and combined_c is not None
        delta = mean_delta(combined_t, combined_c, labels=labels)
        clustered = clustered_welch(combined_t, combined_c, labels=labels)
    deff, mde_s, mde_missing = _power(selection_t, selection_c, clustered, welch)
    return ArmComparison(
        treatment=selection_t,
        control=selection_c,
        interactions_treatment=sum(g.k for g in t_groups),
        interactions_control=sum(g.k for g in c_groups),
        delta=delta,
        clustered=clustered,
        selection_delta=selection_delta,
        welch=welch,
        phases=tuple(per_phase),
        design_effect=deff,
        mde_s=mde_s,
        mde_s_missing=mde_missing,
    )


def _no_shared_phase(treatment: dict[int, ArmGroup], control: dict[int, ArmGroup], labels: tuple[str, str]) -> str:
    if not treatment:
        return f"no selections in {labels[0]}"
    if not control:
        return f"no selections in {labels[1]}"
    return (
        f"{labels[0]} (phases {_listing(treatment)}) and {labels[1]} (phases {_listing(control)}) "
        "never ran in the same phase"
    )


def _listing(groups: dict[int, ArmGroup]) -> str:
    return ", ".join(str(p) for p in sorted(groups))


def _power(
    treatment: SampleSummary, control: SampleSummary, clustered: WelchResult, welch: WelchResult
) -> tuple[float | None, float | None, str | None]:
    """Design effect of the delta and the MDE at 80% power, alpha 0.05, with that design effect.

    deff = Var_interaction(delta) / Var_selection(delta); MDE = (z_0.975 + z_0.8) · sd · √deff ·
    √(1/n_t + 1/n_c) with the pooled selection-level sd, i.e. the interaction-level standard error
    of the delta times (z_0.975 + z_0.8).
    """
    if treatment.n < 2 or control.n < 2:
        return None, None, "needs at least 2 selections in each arm"
    if clustered.se is None or welch.se is None or welch.se == 0:
        return None, None, clustered.missing or welch.missing or "no variance to size against"
    deff = (clustered.se / welch.se) ** 2
    pooled = (treatment.sum_sq_dev + control.sum_sq_dev) / (treatment.n + control.n - 2)
    detectable = mde(math.sqrt(pooled), treatment.n, control.n, design_effect=deff)
    return deff, detectable, None if detectable is not None else "the MDE is too large for a float"
