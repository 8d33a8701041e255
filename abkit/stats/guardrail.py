"""Guardrail: a version's effect on mean case handle time, and whether it worsened significantly.

Faster template selections are worth nothing if cases take longer (say advocates send a suggested
reply that misfires and the customer writes back). Cases are the unit of the guardrail: each case has
one handle time, so the arm means, their CI and the Welch test come from case-level `SampleSummary`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from abkit.stats._result import ToDictMixin
from abkit.stats.delta import mean_delta
from abkit.stats.summary import SampleSummary
from abkit.stats.welch import welch_test


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
