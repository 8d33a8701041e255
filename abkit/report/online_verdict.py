"""The verdict of each result under its experiment's analysis, with the guardrail.

"fixed" keeps the fixed-horizon verdict (:mod:`abkit.report.verdict`); "sequential" reads the
always-valid sequence (CUPED-adjusted when the adjustment could be computed), Holm-adjusted across
challenger comparisons as the fixed-horizon p is. Either way a guardrail that worsened significantly
turns the verdict into "do not ship: guardrail", and a sample ratio mismatch still comes first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from abkit.assignment.config import Analysis
from abkit.events.columns import HOLDOUT_ARM
from abkit.report.arms import ArmComparison
from abkit.report.groups import ArmBounds, ArmGroup, Phase
from abkit.report.model import ComparisonReport, VersionReport
from abkit.report.online import OnlineContext, OnlineFigures, online_figures
from abkit.report.verdict import Verdict, decide
from abkit.stats import SequentialResult, holm


def decision_sequence(figures: OnlineFigures) -> SequentialResult:
    """The sequence a sequential verdict reads: CUPED-adjusted when the adjustment was computed."""
    if figures.cuped.missing is None and figures.cuped_sequential.ci95_s is not None:
        return figures.cuped_sequential
    return figures.sequential


def online_verdict(
    fixed: Verdict,
    comparison: ArmComparison,
    figures: OnlineFigures,
    subject: str,
    against: str,
    *,
    p_sequential: float | None,
    share_of_case_time: float | None,
    min_effect_s: float,
) -> Verdict:
    """The verdict under the experiment's analysis, with the guardrail.

    Args:
        fixed: The fixed-horizon verdict of the result.
        comparison: The result's arms.
        figures: Its online figures.
        subject: What is judged (e.g. "v4").
        against: What it is compared with.
        p_sequential: The p of :func:`decision_sequence` (Holm-adjusted across comparisons).
        share_of_case_time: Share of case handle time saved, quoted when known.
        min_effect_s: The smallest difference worth acting on.
    """
    if fixed.decision == "do not trust: sample ratio mismatch":
        return dataclasses.replace(fixed, analysis=figures.analysis)
    if figures.guardrail_check.worsened:
        return Verdict(
            "do not ship: guardrail",
            f"{subject} against {against}: {figures.guardrail_check.reason}.",
            figures.analysis,
        )
    if figures.analysis == "fixed":
        return fixed
    sequence = decision_sequence(figures)
    adjusted = sequence is figures.cuped_sequential
    fixed_ci, sequence_ci = comparison.delta.ci95_s, sequence.ci95_s
    if sequence_ci is None or fixed_ci is None or sequence.delta_s is None:
        # no interval either way: the fixed verdict already says why ("keep collecting", "not tested")
        return dataclasses.replace(fixed, analysis="sequential")
    # the MDE of the sequence: the fixed one scaled by the ratio of the interval widths
    penalty = (sequence_ci[1] - sequence_ci[0]) / (fixed_ci[1] - fixed_ci[0])
    reading = dataclasses.replace(
        comparison,
        delta=dataclasses.replace(comparison.delta, delta_s=sequence.delta_s, ci95_s=sequence_ci),
        mde_s=None if comparison.mde_s is None else comparison.mde_s * penalty,
    )
    kind = "always-valid, CUPED-adjusted" if adjusted else "always-valid"
    verdict = decide(
        reading,
        subject,
        against,
        p=p_sequential,
        share_of_case_time=share_of_case_time,
        min_effect_s=min_effect_s,
        interval=f"{kind} 95% CI",
        p_kind="always-valid p",
    )
    return dataclasses.replace(verdict, analysis="sequential")


def default_analyses(phases: Sequence[Phase], arms: Sequence[ArmGroup]) -> dict[str, Analysis]:
    """Sequential for a challenger test (a phase, or else the data, has two or more version arms), else fixed."""
    versions: dict[str, set[str]] = {}
    for phase in phases:
        named = {arm for arm, weight in phase.arms if arm != HOLDOUT_ARM and weight > 0}
        if len(named) > len(versions.get(phase.experiment, set())):
            versions[phase.experiment] = named
    registered = set(versions)
    for group in arms:
        if group.experiment not in registered and group.arm != HOLDOUT_ARM:
            versions.setdefault(group.experiment, set()).add(group.arm)
    return {experiment: "sequential" if len(named) >= 2 else "fixed" for experiment, named in versions.items()}


def with_online(
    versions: Sequence[VersionReport],
    comparisons: Sequence[ComparisonReport],
    context: OnlineContext,
    min_effect_s: float,
) -> tuple[tuple[VersionReport, ...], tuple[ComparisonReport, ...]]:
    """Each result with its online figures and its verdict under the experiment's analysis."""
    rows = []
    for row in versions:
        e, v = row.experiment, row.model_version
        figures = online_figures(row.comparison, ((e, v, v), (e, v, HOLDOUT_ARM)), (v, f"holdout of {e}"), context)
        verdict = online_verdict(
            row.verdict,
            row.comparison,
            figures,
            v,
            f"the holdout in {e}",
            p_sequential=decision_sequence(figures).p,
            share_of_case_time=row.case_time_saved_share,
            min_effect_s=min_effect_s,
        )
        rows.append(dataclasses.replace(row, online=figures, verdict=verdict))
    drafts = []
    for item in comparisons:
        e, base, challenger = item.experiment, item.baseline, item.challenger
        keys = ((e, challenger, challenger), (e, base, base))
        drafts.append((item, online_figures(item.comparison, keys, (challenger, base), context)))
    # always-valid p's are valid p's: Holm across the comparisons as for the fixed-horizon ones
    adjusted = holm([decision_sequence(figures).p for _, figures in drafts])
    compared = []
    for (item, figures), p in zip(drafts, adjusted, strict=True):
        verdict = online_verdict(
            item.verdict,
            item.comparison,
            figures,
            item.challenger,
            f"{item.baseline} in {item.experiment}",
            p_sequential=p,
            share_of_case_time=None,
            min_effect_s=min_effect_s,
        )
        compared.append(dataclasses.replace(item, online=figures, verdict=verdict))
    return tuple(rows), tuple(compared)


def experiment_starts(phases: Sequence[Phase], bounds: Sequence[ArmBounds]) -> dict[str, datetime]:
    """When each experiment began: its first recorded phase or its first selection, whichever is earlier."""
    starts: dict[str, datetime] = {}
    moments = [(p.experiment, p.started_at) for p in phases if p.started_at is not None]
    moments += [(b.experiment, b.first_seen) for b in bounds]
    for experiment, moment in moments:
        starts[experiment] = min(moment, starts.get(experiment, moment))
    return starts


def analyses_of(
    declared: Mapping[str, Analysis] | None, phases: Sequence[Phase], arms: Sequence[ArmGroup]
) -> dict[str, Analysis]:
    """The declared analysis of each experiment (experiments file), else its default."""
    return {**default_analyses(phases, arms), **(declared or {})}
