"""The two kinds of result: a model version against its holdout, a challenger against its baseline.

Both carry the selection-level delta and Welch test of the published system, the
interaction-level ``clustered`` figures every decision uses, the phases, the MDE, a verdict,
and (since online monitoring) the always-valid, CUPED and guardrail figures.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from abkit.assignment.config import Analysis
from abkit.report.contract.base import Contract, Figure, Interval, Reason, Timestamp
from abkit.report.contract.figures import (
    ArmFigures,
    ClusteredFigures,
    CupedFigures,
    GuardrailFigures,
    HoldoutAccuracy,
    PhaseFigures,
    SequenceLook,
    SequentialFigures,
    VersionSrm,
    WelchFigures,
)
from abkit.report.verdict import Verdict

# Online figures are left out of the JSON of a report stored before they existed (still schema 2).
_OnlyWhenThere = Field(default=None, exclude_if=lambda value: value is None)
OnlineAnalysis = Annotated[Analysis | None, _OnlyWhenThere]
OnlineSequential = Annotated[SequentialFigures | None, _OnlyWhenThere]
OnlineSequence = Annotated[tuple[SequenceLook, ...] | None, _OnlyWhenThere]
OnlineFlag = Annotated[bool | None, _OnlyWhenThere]
OnlineCuped = Annotated[CupedFigures | None, _OnlyWhenThere]
OnlineGuardrail = Annotated[GuardrailFigures | None, _OnlyWhenThere]


class VersionResult(Contract):
    """One model version in one experiment (one salt run): its treatment against that experiment's holdout."""

    experiment: str
    salt: str | None
    """The salt run compared (a new salt starts a fresh experiment); null: the experiment is not registered."""
    model_version: str
    first_seen: Timestamp | None
    last_seen: Timestamp | None
    verdict: Verdict
    treatment: ArmFigures
    """Selections of the version's arm in that experiment."""
    holdout: ArmFigures
    """That experiment's holdout (suggestions hidden, the model still scores)."""
    delta_s: Figure
    """Selection level, as published: mean(treatment) - mean(holdout), anti-conservative when selections cluster."""
    delta_s_missing: Reason = None
    delta_ci95_s: Interval | None
    delta_ci95_s_missing: Reason = None
    delta_pct: Figure
    delta_pct_missing: Reason = None
    delta_ci95_pct: Interval | None
    delta_ci95_pct_missing: Reason = None
    saving_s: Figure
    """-clustered.delta_s: seconds saved per selection."""
    saving_s_missing: Reason = None
    welch: WelchFigures
    """Selection-level Welch test (the published method)."""
    clustered: ClusteredFigures
    phases: tuple[PhaseFigures, ...]
    mde_s: Figure
    """Minimum detectable difference at 80% power, alpha 0.05, with the design effect."""
    mde_s_missing: Reason = None
    holdout_accuracy: HoldoutAccuracy
    srm: VersionSrm | None
    srm_missing: Reason = None
    selections_per_case: Figure
    selections_per_case_missing: Reason = None
    mean_handle_time_s: Figure
    mean_handle_time_s_missing: Reason = None
    case_time_saved_share: Figure
    """saving_s * selections per case / mean case handle time."""
    case_time_saved_share_missing: Reason = None
    analysis: OnlineAnalysis
    """The experiment's declared analysis (experiments file), else sequential for a challenger test."""
    sequential: OnlineSequential
    sequence: OnlineSequence
    """The sequence as of the end of each hour, day or week (by the result's span); the last look is the whole window's."""
    sequence_cuped: OnlineFlag
    """Whether the looks are CUPED-adjusted (as the sequential verdict reads them)."""
    cuped: OnlineCuped
    guardrail: OnlineGuardrail


class ComparisonResult(Contract):
    """A challenger arm against the baseline arm (released first) of one experiment."""

    experiment: str
    salt: str | None
    baseline: str
    challenger: str
    verdict: Verdict
    baseline_summary: ArmFigures
    challenger_summary: ArmFigures
    delta_s: Figure
    """Selection level: mean(challenger) - mean(baseline)."""
    delta_s_missing: Reason = None
    delta_ci95_s: Interval | None
    delta_ci95_s_missing: Reason = None
    delta_pct: Figure
    delta_pct_missing: Reason = None
    delta_ci95_pct: Interval | None
    delta_ci95_pct_missing: Reason = None
    saving_s: Figure
    saving_s_missing: Reason = None
    welch: WelchFigures
    clustered: ClusteredFigures
    phases: tuple[PhaseFigures, ...]
    mde_s: Figure
    mde_s_missing: Reason = None
    p_holm: Figure
    """clustered.p, Holm-adjusted across the report's comparisons."""
    p_holm_missing: Reason = None
    analysis: OnlineAnalysis
    sequential: OnlineSequential
    sequence: OnlineSequence
    """The sequence as of the end of each hour, day or week (by the result's span); the last look is the whole window's."""
    sequence_cuped: OnlineFlag
    """Whether the looks are CUPED-adjusted (as the sequential verdict reads them)."""
    cuped: OnlineCuped
    guardrail: OnlineGuardrail
