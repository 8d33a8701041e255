"""Guardrail: a version's effect on mean case handle time, and whether it worsened significantly.

Faster template selections are worth nothing if cases take longer (say advocates send a suggested
reply that misfires and the customer writes back). Cases are the unit of the guardrail: each case has
one handle time, so the arm means, their CI and the Welch test come from case-level `SampleSummary`s.
When an experiment's weights changed (a ramp), the arms are compared within each phase and the
phases combined with fixed weights (`stratified_guardrail`, as the primary delta), so that a trend in
case handle time over the phases does not pass for an effect of the arm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from abkit.stats._result import ToDictMixin
from abkit.stats.delta import mean_delta
from abkit.stats.stratified import stratified_summary
from abkit.stats.summary import SampleSummary
from abkit.stats.welch import clustered_welch, welch_test


@dataclass(frozen=True)
class GuardrailResult(ToDictMixin):
    """delta = mean case handle time(treatment) - mean case handle time(control), positive when worse.

    Attributes:
        mean_treatment_s: Mean handle time of the treatment arm's cases.
        mean_control_s: Mean handle time of the control arm's cases.
        delta_s: Difference of means in seconds.
        ci95_s: Welch t interval of delta_s (at `confidence`).
        p: Two-sided Welch p.
        n_treatment: Cases in treatment.
        n_control: Cases in control.
        missing: Why delta_s, ci95_s or p is None, else None.
        confidence: Confidence level of ci95_s.
        se: Standard error of delta_s (for an always-valid interval on it).
    """

    mean_treatment_s: float | None
    mean_control_s: float | None
    delta_s: float | None
    ci95_s: tuple[float, float] | None
    p: float | None
    n_treatment: int
    n_control: int
    missing: str | None = None
    confidence: float = 0.95
    se: float | None = None


def handle_time_guardrail(
    treatment: SampleSummary,
    control: SampleSummary,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("treatment", "control"),
) -> GuardrailResult:
    """Case handle time per arm, the difference with its Welch CI and p (cases are the unit).

    Args:
        treatment: Handle times (seconds) of the cases in the treatment arm.
        control: Handle times of the cases in the control arm (holdout or baseline version).
        confidence: Confidence level in (0, 1).
        labels: Names of the two arms used in `missing` reasons.
    """
    delta = mean_delta(treatment, control, confidence, labels)
    welch = welch_test(treatment, control, labels)
    reason = delta.missing or welch.missing
    return GuardrailResult(
        mean_treatment_s=treatment.mean,
        mean_control_s=control.mean,
        delta_s=delta.delta_s,
        ci95_s=delta.ci95_s,
        p=welch.p,
        n_treatment=treatment.n,
        n_control=control.n,
        missing=None if reason is None else reason.replace("selections", "cases"),
        confidence=confidence,
        se=welch.se,
    )


def stratified_guardrail(
    strata: Sequence[tuple[SampleSummary, SampleSummary]],
    weights: Sequence[float],
    confidence: float = 0.95,
    labels: tuple[str, str] = ("treatment", "control"),
    stratum_names: Sequence[str] | None = None,
) -> GuardrailResult:
    """Case handle time compared within each stratum (experiment phase), the strata combined.

    Each arm's mean is Σ_p w_p · mean_p over the strata where both arms have cases (weights
    renormalised over them), with variance Σ_p w_p² · v_p / n_p (`stratified_summary`); the CI and p are
    Welch's on those. Pass the primary delta's weights (each phase's interactions in both arms) so the
    guardrail weighs the phases as the selection-time delta does. With one such stratum this is
    `handle_time_guardrail` of it; the means reported are the stratified ones.

    Args:
        strata: (treatment, control) case handle times of each stratum.
        weights: Each stratum's weight (> 0).
        confidence: Confidence level in (0, 1).
        labels: Names of the two arms used in `missing` reasons.
        stratum_names: Names of the strata in `missing` reasons (default "stratum 1", ...).

    Raises:
        ValueError: For mismatched lengths or a weight that is not positive and finite.
    """
    if len(strata) != len(weights):
        raise ValueError(f"{len(strata)} strata but {len(weights)} weights")
    names = list(stratum_names) if stratum_names is not None else [f"stratum {p + 1}" for p in range(len(strata))]
    kept = [
        (pair, weight, name)
        for pair, weight, name in zip(strata, weights, names, strict=True)
        if pair[0].n and pair[1].n
    ]
    if len(kept) <= 1:
        if kept:
            return handle_time_guardrail(kept[0][0][0], kept[0][0][1], confidence, labels)
        n_treatment, n_control = sum(pair[0].n for pair in strata), sum(pair[1].n for pair in strata)
        if n_treatment == 0 or n_control == 0:
            reason = f"no cases in {labels[0] if n_treatment == 0 else labels[1]}"
        else:
            reason = f"no phase with cases in both {labels[0]} and {labels[1]}"
        return GuardrailResult(None, None, None, None, None, n_treatment, n_control, reason, confidence)
    combined = []
    for side, label in enumerate(labels):
        arm = stratified_summary(
            [pair[side] for pair, _, _ in kept], [w for _, w, _ in kept], [f"{label} ({n})" for _, _, n in kept]
        )
        assert arm is not None  # kept is not empty
        combined.append(arm)
    treatment, control = combined
    delta = mean_delta(treatment, control, confidence, labels)
    welch = clustered_welch(treatment, control, labels)
    why = delta.missing or welch.missing
    return GuardrailResult(
        mean_treatment_s=treatment.shift + treatment.offset,
        mean_control_s=control.shift + control.offset,
        delta_s=delta.delta_s,
        ci95_s=delta.ci95_s,
        p=welch.p,
        n_treatment=treatment.units,
        n_control=control.units,
        missing=None if why is None else why.replace("selections", "cases"),
        confidence=confidence,
        se=welch.se,
    )


class Interval(Protocol):
    """Any result with a delta and its interval (DeltaResult, SequentialResult, CupedResult, GuardrailResult)."""

    @property
    def delta_s(self) -> float | None: ...

    @property
    def ci95_s(self) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class GuardrailCheck(ToDictMixin):
    """Whether the guardrail blocks shipping.

    Attributes:
        worsened: True when the guardrail's interval lies wholly above `margin_s` (handle time rose
            significantly); False when it does not; None when the guardrail could not be computed.
        reason: One plain sentence with the numbers.
    """

    worsened: bool | None
    reason: str


def guardrail_check(primary: Interval, guardrail: Interval, margin_s: float = 0.0) -> GuardrailCheck:
    """Turn (primary result, guardrail result) into "the guardrail worsened significantly" or not.

    The guardrail worsened when its whole interval lies above `margin_s` (0: any significant rise in
    mean case handle time), whatever the primary metric did; pass a sequential interval when the
    experiment is analysed sequentially, so that daily looks do not raise false alarms.

    Args:
        primary: The selection-time result (its delta is quoted in the reason).
        guardrail: The case-handle-time result.
        margin_s: Rise in mean handle time (seconds) tolerated before the guardrail counts as worse.
    """
    low_high, delta = guardrail.ci95_s, guardrail.delta_s
    if low_high is None or delta is None:
        return GuardrailCheck(None, "case handle time guardrail could not be computed")
    interval = f"{delta:+.1f} s per case (95% CI {low_high[0]:+.1f} to {low_high[1]:+.1f} s)"
    if low_high[0] > margin_s:
        selections = ""
        if primary.delta_s is not None and primary.delta_s < 0:
            selections = f" although selections got {-primary.delta_s:.2f} s faster"
        return GuardrailCheck(True, f"case handle time rose {interval}{selections}")
    return GuardrailCheck(False, f"case handle time did not rise significantly: {interval}")
