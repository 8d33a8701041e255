"""A verdict in words for each result: what the numbers say to do, and why, in one sentence.

The vocabulary is small and fixed (docs/statistics.md, "Verdicts"); every rule reads the
interaction-level figures (the randomisation unit), never the selection-level Welch test:

1. ``do not trust: sample ratio mismatch`` — a phase's units did not split as configured
   (SRM p < 0.001): the assignment or the logging is broken, so no delta can be believed.
2. ``keep collecting`` — the interval cannot be computed yet (too few interactions), or it
   holds 0 and the test could not yet detect the smallest effect that matters (its MDE at 80%
   power exceeds ``min_effect_s``).
3. ``saves time`` / ``costs time`` — p < alpha (Holm-adjusted across comparisons) and the 95%
   interval lies below / above 0.
4. ``no detectable difference`` — p >= alpha although the test could detect ``min_effect_s``.

``not tested`` marks a pair that has no data to compare by design and will not get any by
waiting: a version with no holdout of its own in an experiment (a challenger test's holdout is
scored by the baseline), or two arms that never ran side by side.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from abkit.report.arms import ArmComparison

Decision = Literal[
    "saves time",
    "costs time",
    "no detectable difference",
    "keep collecting",
    "do not trust: sample ratio mismatch",
    "do not ship: guardrail",
    "not tested",
]
DECISIONS: tuple[Decision, ...] = get_args(Decision)
# The smallest change in selection time worth acting on: below it, a test that found nothing
# may stop ("no detectable difference"); above its MDE, it should keep collecting.
DEFAULT_MIN_EFFECT_S = 0.25
ALPHA = 0.05


# A pydantic dataclass: the report contract (abkit.report.contract) serialises it as it is.
@dataclass(frozen=True, config=ConfigDict(extra="forbid", use_attribute_docstrings=True))
class Verdict:
    """What to do about one result: a decision from :data:`DECISIONS` and one plain sentence why."""

    decision: Decision
    reason: str
    """The sentence: the figures the decision rests on, or what it waits for."""
    analysis: Literal["fixed", "sequential"] = "fixed"
    """The analysis the verdict read: fixed-horizon or always-valid (sequential)."""


def seconds(value: float) -> str:
    """Seconds for a sentence: two decimals below 10 s, one above."""
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def p_value(value: float) -> str:
    """A p-value for a sentence: two significant digits, '< 1e-300' at the floor."""
    if value < 1e-300:
        return "< 1e-300"
    return f"{value:.2g}"


def decide(
    comparison: ArmComparison,
    subject: str,
    against: str,
    *,
    p: float | None,
    share_of_case_time: float | None = None,
    min_effect_s: float = DEFAULT_MIN_EFFECT_S,
    interval: str = "95% CI",
    p_kind: str = "interaction-level p",
) -> Verdict:
    """The verdict of one comparison.

    Args:
        comparison: The two arms' figures (interaction level, phases combined).
        subject: What is judged, e.g. "v4" or "v5".
        against: What it is compared with, e.g. "the holdout in standing" or "v4 in v5-challenger".
        p: The p-value the decision uses (interaction level; Holm-adjusted across comparisons).
        share_of_case_time: Share of case handle time saved, quoted when known.
        min_effect_s: The smallest difference in seconds worth acting on.
        interval: How the sentence names the interval (e.g. "always-valid 95% CI").
        p_kind: How the sentence names the p-value (e.g. "always-valid p").
    """
    flagged = [ph for ph in comparison.phases if ph.srm.flag]
    srm_note = "SRM ok" if not flagged else ""
    if flagged:
        worst = min(flagged, key=lambda ph: ph.srm.p if ph.srm.p is not None else 0.0)
        where = f"phase {worst.phase}" if worst.phase else "before the first recorded phase"
        detail = f"p = {p_value(worst.srm.p)}" if worst.srm.p is not None else str(worst.srm.missing)
        return Verdict(
            "do not trust: sample ratio mismatch",
            f"Units did not split as configured in {where} ({detail}); fix assignment or logging "
            f"before reading {subject} against {against}.",
        )
    delta = comparison.delta
    if not comparison.phases:
        return Verdict("not tested", f"{subject} against {against}: nothing to compare ({delta.missing}).")
    if delta.delta_s is None or delta.ci95_s is None or p is None:
        reason = delta.missing or comparison.clustered.missing or "no interval"
        return Verdict("keep collecting", f"{subject} against {against}: no interval yet ({reason}).")
    low, high = delta.ci95_s
    counts = f"n = {comparison.interactions_treatment:,} / {comparison.interactions_control:,} interactions"

    def figures(ends: tuple[float, float]) -> str:
        return f"({interval} {seconds(ends[0])} to {seconds(ends[1])} s, {p_kind} {p_value(p)}, {counts})"

    if p < ALPHA and (high < 0 or low > 0):
        share = ""
        if share_of_case_time is not None and math.isfinite(share_of_case_time):
            share = f", {abs(share_of_case_time) * 100:.1f}% of case time"
        if delta.delta_s < 0:  # the saving and its interval, in positive seconds
            return Verdict(
                "saves time",
                f"{subject} saves {seconds(-delta.delta_s)} s per selection against {against} "
                f"{figures((-high, -low))}{share}; {srm_note}.",
            )
        return Verdict(
            "costs time",
            f"{subject} costs {seconds(delta.delta_s)} s more per selection than {against} "
            f"{figures((low, high))}{share}; {srm_note}.",
        )
    change = (
        f"{subject} against {against}: a difference of {seconds(delta.delta_s)} s per selection {figures((low, high))}"
    )
    if comparison.mde_s is not None and comparison.mde_s <= min_effect_s:
        return Verdict(
            "no detectable difference",
            f"{change}; the test could detect {seconds(comparison.mde_s)} s and found no difference; {srm_note}.",
        )
    mde = f"{seconds(comparison.mde_s)} s" if comparison.mde_s is not None else "an unknown size"
    return Verdict(
        "keep collecting",
        f"{change}; it can only detect differences of {mde} or more (80% power), "
        f"above the {seconds(min_effect_s)} s that matters; {srm_note}.",
    )
