"""The objects a result is made of: arm summaries, tests, SRM, phases, accuracy and the online figures."""

from __future__ import annotations

from typing import Literal

from abkit.report.contract.base import Contract, Figure, Interval, Reason, Timestamp


class ArmFigures(Contract):
    """Selection time of one arm: count, mean and sd (ddof = 1) in seconds."""

    n: int
    mean_s: Figure
    sd_s: Figure
    missing: str | None
    """Why mean_s or sd_s is null ("no selections", "n = 1"), else null."""


class WelchFigures(Contract):
    """A Welch t-test: t, Welch-Satterthwaite df and two-sided p."""

    t: Figure
    df: Figure
    p: Figure
    missing: str | None
    """Why the test could not be computed, else null."""


class SrmFigures(Contract):
    """Sample-ratio mismatch: chi-square of the units per arm against the configured weights."""

    chi2: Figure
    df: int | None
    p: Figure
    flag: bool | None
    """True when p < 0.001 (or units landed in an arm with no configured weight)."""
    observed: dict[str, int]
    """Units (interactions) per arm."""
    expected_share: dict[str, float]
    """Configured share per arm, normalised to sum to 1."""
    missing: str | None


class VersionSrm(Contract):
    """The most suspicious phase's SRM of a version's experiment (flagged first, then the smallest p)."""

    experiment: str
    phase: int
    chi2: Figure
    df: int | None
    p: Figure
    flag: bool | None
    observed: dict[str, int]
    expected_share: dict[str, float]
    missing: str | None


class ClusteredFigures(Contract):
    """The interaction-level test and delta, phases combined: the figures every decision rests on."""

    t: Figure
    df: Figure
    p: Figure
    missing: str | None
    delta_s: Figure
    """mean(treatment) - mean(control) in seconds; negative is time saved."""
    delta_s_missing: Reason = None
    delta_ci95_s: Interval | None
    delta_ci95_s_missing: Reason = None
    delta_pct: Figure
    """100 * delta_s / mean(control)."""
    delta_pct_missing: Reason = None
    delta_ci95_pct: Interval | None
    delta_ci95_pct_missing: Reason = None
    interactions_treatment: int
    interactions_control: int
    design_effect: Figure
    """Variance inflation of the selection-level mean from clustering in interactions."""
    design_effect_missing: Reason = None


class PhaseFigures(Contract):
    """The two arms within one experiment phase, and that phase's SRM."""

    phase: int
    started_at: Timestamp | None
    ended_at: Timestamp | None
    weights: dict[str, float]
    treatment_interactions: int
    control_interactions: int
    treatment_selections: int
    control_selections: int
    delta_s: Figure
    delta_s_missing: Reason = None
    clustered_delta_ci95_s: Interval | None
    clustered_delta_ci95_s_missing: Reason = None
    srm: SrmFigures


class HoldoutAccuracy(Contract):
    """Top-k accuracy of the model's predictions in the holdout, with 95% Wilson intervals."""

    n: int
    top1: Figure
    top1_ci95: Interval | None
    top3: Figure
    top3_ci95: Interval | None
    top5: Figure
    top5_ci95: Interval | None
    missing: str | None


class SequentialFigures(Contract):
    """The always-valid 95% confidence sequence of the interaction-level delta."""

    delta_s: Figure
    delta_ci95_s: Interval | None
    p: Figure
    """Always-valid p: may be read at every look."""
    n_star: int
    """Tuning: the interactions (both arms) where the sequence is tightest."""
    interactions: int | None
    missing: str | None


class SequenceLook(Contract):
    """The always-valid interval as of the end of one hour, day or week (a look a team could have taken)."""

    end: Timestamp
    """End of the bucket: the look uses the interactions whose first selection came before it."""
    delta_s: Figure
    delta_ci95_s: Interval | None
    p: Figure
    interactions: int | None
    missing: str | None


class CupedFigures(Contract):
    """The delta adjusted by each advocate's pre-period mean selection time (CUPED)."""

    delta_s: Figure
    delta_ci95_s: Interval | None
    p: Figure
    variance_reduction: Figure
    """1 - Var(adjusted delta) / Var(interaction-level delta)."""
    theta: Figure
    pre_period_days: float
    interactions_with_history: int
    sequential: SequentialFigures
    missing: str | None


class GuardrailFigures(Contract):
    """Case handle time, treatment - control, cases as the unit (Welch)."""

    metric: Literal["case_handle_time_s"]
    mean_treatment_s: Figure
    mean_control_s: Figure
    n_treatment: int
    n_control: int
    delta_s: Figure
    delta_ci95_s: Interval | None
    p: Figure
    worsened: bool | None
    """True: the interval (always-valid when the analysis is sequential) lies above 0."""
    reason: str
    missing: str | None
