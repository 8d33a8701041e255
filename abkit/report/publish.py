"""The computed results as the published contract (:mod:`abkit.report.contract`).

The computation keeps what the maths needs (sufficient statistics, phase by phase); this module
picks the figures the contract publishes and says why each missing one is missing.
"""

from __future__ import annotations

from typing import Any

from abkit.report.arms import ArmComparison, PhaseComparison
from abkit.report.contract.base import figure, iso
from abkit.report.contract.figures import (
    ArmFigures,
    ClusteredFigures,
    CupedFigures,
    GuardrailFigures,
    HoldoutAccuracy,
    PhaseFigures,
    SequenceLook,
    SequentialFigures,
    SrmFigures,
    VersionSrm,
    WelchFigures,
)
from abkit.report.contract.report import TrendFigures
from abkit.report.contract.results import ComparisonResult, VersionResult
from abkit.report.model import ComparisonReport, VersionReport
from abkit.report.online import OnlineFigures
from abkit.stats import DeltaResult, SampleSummary, SequentialResult, SrmResult, TopKAccuracy, TrendResult, WelchResult


def arm_figures(summary: SampleSummary) -> ArmFigures:
    """Count, mean and sd of one arm's selection times."""
    missing = "no selections" if summary.n == 0 else ("n = 1" if summary.sd is None else None)
    return ArmFigures(n=summary.n, mean_s=summary.mean, sd_s=summary.sd, missing=missing)


def welch_figures(result: WelchResult) -> WelchFigures:
    return WelchFigures(t=result.t, df=result.df, p=result.p, missing=result.missing)


def srm_fields(result: SrmResult) -> dict[str, Any]:
    """The keys of an SRM object (a row that names its experiment and phase puts them beside these)."""
    return {
        "chi2": result.chi2,
        "df": result.df,
        "p": result.p,
        "flag": result.flag,
        "observed": dict(result.observed),
        "expected_share": dict(result.expected_share),
        "missing": result.missing,
    }


def srm_figures(result: SrmResult) -> SrmFigures:
    return SrmFigures(**srm_fields(result))


def delta_figures(delta: DeltaResult) -> dict[str, Any]:
    """``delta_s``, ``delta_ci95_s``, ``delta_pct``, ``delta_ci95_pct`` and their reasons."""
    return {
        **figure("delta_s", delta.delta_s, delta.missing),
        **figure("delta_ci95_s", delta.ci95_s, delta.missing),
        **figure("delta_pct", delta.delta_pct, delta.pct_missing),
        **figure("delta_ci95_pct", delta.ci95_pct, delta.pct_missing),
    }


def clustered_figures(comparison: ArmComparison) -> ClusteredFigures:
    """The interaction-level test and delta (phases combined): the figures decisions rest on."""
    welch = comparison.clustered
    return ClusteredFigures(
        t=welch.t,
        df=welch.df,
        p=welch.p,
        missing=welch.missing,
        **delta_figures(comparison.delta),
        interactions_treatment=comparison.interactions_treatment,
        interactions_control=comparison.interactions_control,
        **figure("design_effect", comparison.design_effect, comparison.mde_s_missing),
    )


def phase_figures(phase: PhaseComparison) -> PhaseFigures:
    return PhaseFigures(
        phase=phase.phase,
        started_at=iso(phase.started_at),
        ended_at=iso(phase.ended_at),
        weights=dict(phase.weights),
        treatment_interactions=phase.treatment_interactions,
        control_interactions=phase.control_interactions,
        treatment_selections=phase.treatment_selections,
        control_selections=phase.control_selections,
        **figure("delta_s", phase.delta.delta_s, phase.delta.missing),
        **figure("clustered_delta_ci95_s", phase.delta.ci95_s, phase.delta.missing),
        srm=srm_figures(phase.srm),
    )


def holdout_accuracy(accuracy: TopKAccuracy) -> HoldoutAccuracy:
    return HoldoutAccuracy(
        n=accuracy.n,
        top1=accuracy.top1.estimate,
        top1_ci95=accuracy.top1.ci95,
        top3=accuracy.top3.estimate,
        top3_ci95=accuracy.top3.ci95,
        top5=accuracy.top5.estimate,
        top5_ci95=accuracy.top5.ci95,
        missing=accuracy.top1.missing,
    )


def _comparison_fields(comparison: ArmComparison) -> dict[str, Any]:
    """Selection-level delta and Welch (published method), interaction-level ``clustered``, phases, MDE."""
    delta = comparison.delta
    return {
        **delta_figures(comparison.selection_delta),
        **figure("saving_s", None if delta.delta_s is None else -delta.delta_s, delta.missing),
        "welch": welch_figures(comparison.welch),
        "clustered": clustered_figures(comparison),
        "phases": tuple(phase_figures(phase) for phase in comparison.phases),
        **figure("mde_s", comparison.mde_s, comparison.mde_s_missing),
    }


def _sequence(result: SequentialResult) -> SequentialFigures:
    return SequentialFigures(
        delta_s=result.delta_s,
        delta_ci95_s=result.ci95_s,
        p=result.p,
        n_star=result.tuning,
        interactions=result.units,
        missing=result.missing,
    )


def online_fields(online: OnlineFigures | None) -> dict[str, Any]:
    """The ``analysis``, ``sequential``, ``sequence``, ``cuped`` and ``guardrail`` keys of a result (none: left out)."""
    if online is None:
        return {}
    cuped, guardrail = online.cuped, online.guardrail
    return {
        "analysis": online.analysis,
        "sequential": _sequence(online.sequential),
        "sequence": tuple(
            SequenceLook(
                end=point.end.isoformat(),
                delta_s=point.look.delta_s,
                delta_ci95_s=point.look.ci95_s,
                p=point.look.p,
                interactions=point.look.units,
                missing=point.look.missing,
            )
            for point in online.sequence
        ),
        "sequence_cuped": online.sequence_cuped,
        "cuped": CupedFigures(
            delta_s=cuped.delta_s,
            delta_ci95_s=cuped.ci95_s,
            p=cuped.p,
            variance_reduction=cuped.variance_reduction,
            theta=cuped.theta,
            pre_period_days=online.pre_period_days,
            interactions_with_history=online.interactions_with_history,
            sequential=_sequence(online.cuped_sequential),
            missing=cuped.missing,
        ),
        "guardrail": GuardrailFigures(
            metric="case_handle_time_s",
            mean_treatment_s=guardrail.mean_treatment_s,
            mean_control_s=guardrail.mean_control_s,
            n_treatment=guardrail.n_treatment,
            n_control=guardrail.n_control,
            delta_s=guardrail.delta_s,
            delta_ci95_s=guardrail.ci95_s,
            p=guardrail.p,
            worsened=online.guardrail_check.worsened,
            reason=online.guardrail_check.reason,
            missing=guardrail.missing,
        ),
    }


def _worst_srm(comparison: ArmComparison) -> PhaseComparison | None:
    """The phase whose SRM is most suspicious (flagged first, then the smallest p)."""
    tested = [ph for ph in comparison.phases if ph.srm.flag is not None]
    if not tested:
        return None
    return min(tested, key=lambda ph: (not ph.srm.flag, ph.srm.p if ph.srm.p is not None else 0.0))


def version_result(row: VersionReport) -> VersionResult:
    """One version against its holdout, as published."""
    comparison = row.comparison
    worst = _worst_srm(comparison)
    if worst is None:
        reasons = [ph.srm.missing for ph in comparison.phases if ph.srm.missing]
        srm = figure("srm", None, reasons[0] if reasons else row.srm_missing)
    else:
        srm = {"srm": VersionSrm(experiment=row.experiment, phase=worst.phase, **srm_fields(worst.srm))}
    reason = row.case_time_saved_share_missing
    return VersionResult(
        experiment=row.experiment,
        salt=row.salt,
        model_version=row.model_version,
        first_seen=iso(row.first_seen),
        last_seen=iso(row.last_seen),
        verdict=row.verdict,
        treatment=arm_figures(comparison.treatment),
        holdout=arm_figures(comparison.control),
        **_comparison_fields(comparison),
        holdout_accuracy=holdout_accuracy(row.holdout_accuracy),
        **srm,
        **figure("selections_per_case", row.selections_per_case, reason),
        **figure("mean_handle_time_s", row.mean_handle_time_s, reason),
        **figure("case_time_saved_share", row.case_time_saved_share, reason),
        **online_fields(row.online),
    )


def comparison_result(row: ComparisonReport) -> ComparisonResult:
    """One challenger against its baseline, as published."""
    comparison = row.comparison
    return ComparisonResult(
        experiment=row.experiment,
        salt=row.salt,
        baseline=row.baseline,
        challenger=row.challenger,
        verdict=row.verdict,
        baseline_summary=arm_figures(comparison.control),
        challenger_summary=arm_figures(comparison.treatment),
        **_comparison_fields(comparison),
        **figure("p_holm", row.p_holm, comparison.clustered.missing),
        **online_fields(row.online),
    )


def trend_figures(result: TrendResult) -> TrendFigures:
    """A Mann-Kendall result as published."""
    return TrendFigures(
        trend=result.trend,
        tau=result.tau,
        s=result.s,
        z=result.z,
        p=result.p,
        sen_slope=result.sen_slope,
        intercept=result.intercept,
        n=result.n,
        method=result.method,
        missing=result.missing,
    )
