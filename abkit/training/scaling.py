"""Scaling analysis: classification loss against LM loss, tokens and FLOPs of adaptation.

For each adaptation checkpoint (of one or several runs or sizes) the classifier is fine-tuned
and evaluated; a least-squares line relates its held-out classification loss to the
checkpoint's held-out LM loss, to log10 tokens seen and to log10 FLOPs (6 * N * D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from abkit.training.adapt import list_checkpoints
from abkit.training.config import SizeConfig
from abkit.training.corpus import Case
from abkit.training.optim import Runtime


@dataclass(frozen=True)
class ScalingPoint:
    """One adaptation checkpoint and the classifier fine-tuned from it."""

    run: str
    step: int
    parameters: int
    tokens: int
    lm_loss: float
    cls_loss: float
    top1: float
    top5: float

    @property
    def flops(self) -> float:
        """Adaptation compute, 6 * N * D."""
        return 6.0 * self.parameters * self.tokens


@dataclass(frozen=True)
class LinearFit:
    """Ordinary least squares ``y = intercept + slope * x`` and its R²."""

    x_name: str
    slope: float
    intercept: float
    r2: float
    n: int


def linear_fit(x: Sequence[float], y: Sequence[float], *, x_name: str = "x") -> LinearFit:
    """Least-squares line; R² = 1 - SS_res / SS_tot.

    Raises:
        ValueError: fewer than 2 points, lengths differ, or x does not vary.
    """
    if len(x) != len(y):
        raise ValueError(f"{x_name}: x and y differ in length ({len(x)} vs {len(y)})")
    n = len(x)
    if n < 2:
        raise ValueError(f"{x_name}: a line needs at least 2 points, got {n}")
    mean_x, mean_y = sum(x) / n, sum(y) / n
    sxx = sum((xi - mean_x) ** 2 for xi in x)
    if sxx == 0:
        raise ValueError(f"{x_name}: all x values are equal; no line can be fitted")
    slope = sum((xi - mean_x) * (yi - mean_y) for xi, yi in zip(x, y, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((yi - mean_y) ** 2 for yi in y)
    ss_res = sum((yi - intercept - slope * xi) ** 2 for xi, yi in zip(x, y, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return LinearFit(x_name, slope, intercept, r2, n)


def scaling_fits(points: Sequence[ScalingPoint]) -> list[LinearFit]:
    """Fits of classification loss on LM loss, log10 tokens and log10 FLOPs.

    Checkpoints at zero tokens (the starting model) have no logarithm and enter only the
    LM-loss fit. A fit that cannot be made (too few points) is left out.
    """
    fits = []
    candidates = [
        ("lm_loss", [(p.lm_loss, p.cls_loss) for p in points]),
        ("log10_tokens", [(math.log10(p.tokens), p.cls_loss) for p in points if p.tokens > 0]),
        ("log10_flops", [(math.log10(p.flops), p.cls_loss) for p in points if p.flops > 0]),
    ]
    for name, pairs in candidates:
        try:
            fits.append(linear_fit([a for a, _ in pairs], [b for _, b in pairs], x_name=name))
        except ValueError:
            continue
    return fits


def scaling_table(points: Sequence[ScalingPoint], fits: Sequence[LinearFit]) -> str:
    """Plain-text table of the points and the fits."""
    lines = [
        f"{'run':<24} {'step':>7} {'tokens':>10} {'FLOPs':>10} {'LM loss':>8} {'cls loss':>8} {'top-1':>6} {'top-5':>6}"
    ]
    for p in points:
        lines.append(
            f"{p.run:<24} {p.step:>7} {p.tokens:>10} {p.flops:>10.3g} {p.lm_loss:>8.3f} {p.cls_loss:>8.3f} {p.top1:>6.1%} {p.top5:>6.1%}"
        )
    lines.append("")
    lines.append(f"{'classification loss on':<24} {'slope':>9} {'intercept':>9} {'R²':>6} {'n':>4}")
    for fit in fits:
        lines.append(f"{fit.x_name:<24} {fit.slope:>9.4f} {fit.intercept:>9.4f} {fit.r2:>6.3f} {fit.n:>4}")
    return "\n".join(lines)


def run_scaling(
    runs: Sequence[str | Path],
    cases: Sequence[Case],
    config: SizeConfig,
    *,
    split_seed: int = 0,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> list[ScalingPoint]:
    """Fine-tune and evaluate a classifier from every checkpoint of every adaptation run."""
    from abkit.training.pipeline import adaptation_record, run_finetune

    points = []
    for run in runs:
        for checkpoint in list_checkpoints(run):
            report = run_finetune(
                checkpoint.path,
                cases,
                config,
                None,
                split_seed=split_seed,
                with_encoder=False,
                runtime=runtime,
                progress=progress,
            )
            record = adaptation_record(checkpoint.path)
            points.append(
                ScalingPoint(
                    run=Path(run).name,
                    step=checkpoint.step,
                    parameters=int(record.get("parameters", report.parameters)),
                    tokens=checkpoint.tokens,
                    lm_loss=checkpoint.heldout_loss,
                    cls_loss=report.metrics.loss,
                    top1=report.metrics.top1,
                    top5=report.metrics.top5,
                )
            )
    return points
