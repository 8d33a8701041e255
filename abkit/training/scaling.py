"""Scaling analysis: classification loss against LM loss, tokens and FLOPs of adaptation.

For each adaptation checkpoint (of one or several runs or sizes) the classifier is fine-tuned
and evaluated. Lines relate its held-out classification loss to the checkpoint's held-out LM
loss, to log10 tokens seen and to log10 FLOPs (6 * N * D), as in the paper's three panels:

- one fit per run (one model size), and a pooled fit across runs when there are several;
- over the **adapted** checkpoints only: step 0 is the starting model (a random init, or the
  base model) fine-tuned directly. It is so far from the rest that it alone would decide the
  line (a leverage point), and it has no logarithm of tokens, so it is reported apart, as the
  effect of adaptation (classification loss at step 0 against the last adapted checkpoint);
- each fit with R², a CI on the slope and a verdict in words; a run with too few adapted
  checkpoints gets a note instead of a line.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from abkit.training.adapt import list_checkpoints
from abkit.training.config import SizeConfig
from abkit.training.corpus import Case
from abkit.training.optim import Runtime
from abkit.training.scaling_fit import CONFIDENCE, LinearFit, linear_fit

POOLED = "pooled"


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
    majority_loss: float | None = None  # the majority baseline's loss on the same held-out half
    finetunes: int = 1  # classifiers fine-tuned from this checkpoint (seeds); the losses are their means
    cls_loss_sd: float | None = None  # standard deviation of classification loss across those seeds

    @property
    def flops(self) -> float:
        """Adaptation compute, 6 * N * D."""
        return 6.0 * self.parameters * self.tokens

    @property
    def adapted(self) -> bool:
        """False for the starting model (step 0, no adaptation tokens)."""
        return self.step > 0 and self.tokens > 0


# The regressors of the three panels; each maps an adapted point to its x value.
REGRESSORS: dict[str, Callable[[ScalingPoint], float]] = {
    "lm_loss": lambda p: p.lm_loss,
    "log10_tokens": lambda p: math.log10(p.tokens),
    "log10_flops": lambda p: math.log10(p.flops),
}


@dataclass(frozen=True)
class AdaptationEffect:
    """Classification loss of the starting model fine-tuned directly against the last adapted checkpoint."""

    run: str
    start_cls_loss: float
    adapted_cls_loss: float
    adapted_step: int

    @property
    def delta(self) -> float:
        """Adapted minus start: negative when adaptation helps."""
        return self.adapted_cls_loss - self.start_cls_loss


@dataclass(frozen=True)
class ScalingAnalysis:
    """The points, the fits (per run, then pooled), the adaptation effects, and notes.

    Attributes:
        not_learned: runs none of whose adapted classifiers beats the majority baseline's loss:
            their fits describe a classifier that has not learned the task, whatever their R².
    """

    points: tuple[ScalingPoint, ...]
    fits: tuple[LinearFit, ...]
    effects: tuple[AdaptationEffect, ...]
    notes: tuple[str, ...]
    include_start: bool
    not_learned: tuple[str, ...] = ()

    @property
    def runs(self) -> list[str]:
        """Run names in first-seen order (the chart's colour order)."""
        return list(dict.fromkeys(p.run for p in self.points))

    def fit(self, x_name: str, group: str) -> LinearFit | None:
        return next((f for f in self.fits if f.x_name == x_name and f.group == group), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "include_start": self.include_start,
            "points": [{**asdict(p), "flops": p.flops, "adapted": p.adapted} for p in self.points],
            "fits": [f.to_dict() for f in self.fits],
            "adaptation_effects": [{**asdict(e), "delta": e.delta} for e in self.effects],
            "notes": list(self.notes),
            "not_learned": list(self.not_learned),
        }


def analyse_scaling(
    points: Sequence[ScalingPoint], *, include_start: bool = False, confidence: float = CONFIDENCE
) -> ScalingAnalysis:
    """Fit classification loss on LM loss, log10 tokens and log10 FLOPs, per run and pooled.

    Args:
        points: checkpoints of one or several runs.
        include_start: also put step 0 into the LM-loss fits (it never enters the log fits).
            Off by default: the starting model is a leverage point that alone can make R² high.
        confidence: level of the slope CIs.
    """
    runs = list(dict.fromkeys(p.run for p in points))
    groups = [(run, [p for p in points if p.run == run]) for run in runs]
    if len(runs) > 1:
        groups.append((POOLED, list(points)))
    fits, notes = [], []
    for group, members in groups:
        for x_name, value in REGRESSORS.items():
            chosen = [p for p in members if p.adapted or (include_start and x_name == "lm_loss")]
            try:
                fits.append(
                    linear_fit(
                        [value(p) for p in chosen],
                        [p.cls_loss for p in chosen],
                        x_name=x_name,
                        group=group,
                        confidence=confidence,
                    )
                )
            except ValueError as error:
                notes.append(f"no fit: {error}")
    effects, not_learned = [], []
    for run, members in groups[: len(runs)]:
        start = next((p for p in members if not p.adapted), None)
        adapted = [p for p in members if p.adapted]
        if start is not None and adapted:
            last = max(adapted, key=lambda p: p.step)
            effects.append(AdaptationEffect(run, start.cls_loss, last.cls_loss, last.step))
        baselines = [p.majority_loss for p in adapted if p.majority_loss is not None]
        if adapted and baselines and min(p.cls_loss for p in adapted) >= min(baselines):
            not_learned.append(run)
            notes.append(
                f"{run}: no adapted checkpoint's classifier beats the majority baseline (best loss "
                f"{min(p.cls_loss for p in adapted):.3f} vs {min(baselines):.3f}); its fits describe a classifier "
                "that has not learned the task, whatever their R²"
            )
    return ScalingAnalysis(tuple(points), tuple(fits), tuple(effects), tuple(notes), include_start, tuple(not_learned))


def scaling_table(analysis: ScalingAnalysis) -> str:
    """Plain-text tables: the points, the adaptation effects, the fits with their verdicts."""
    lines = [
        f"{'run':<24} {'step':>7} {'tokens':>10} {'FLOPs':>10} {'LM loss':>8} {'cls loss':>8} {'± sd':>6} {'majority':>8} {'top-1':>6} {'top-5':>6}"
    ]
    for p in analysis.points:
        mark = "" if p.adapted else "  (start, not adapted)"
        majority = "-" if p.majority_loss is None else f"{p.majority_loss:.3f}"
        spread = "-" if p.cls_loss_sd is None else f"{p.cls_loss_sd:.3f}"
        lines.append(
            f"{p.run:<24} {p.step:>7} {p.tokens:>10} {p.flops:>10.3g} {p.lm_loss:>8.3f} {p.cls_loss:>8.3f} {spread:>6} {majority:>8} {p.top1:>6.1%} {p.top5:>6.1%}{mark}"
        )
    if analysis.effects:
        lines += ["", "adaptation effect on held-out classification loss (step 0 fine-tuned directly -> last adapted)"]
        for e in analysis.effects:
            lines.append(
                f"{e.run:<24} {e.start_cls_loss:.3f} -> {e.adapted_cls_loss:.3f} (step {e.adapted_step}): {e.delta:+.3f}"
            )
    which = "every checkpoint (step 0 in the LM-loss fits)" if analysis.include_start else "adapted checkpoints only"
    lines += ["", f"classification loss fitted over {which}"]
    lines.append(
        f"{'group':<24} {'x':<13} {'n':>3} {'slope':>9} {f'{CONFIDENCE:.0%} CI':>21} {'intercept':>9} {'R²':>6}  verdict"
    )
    for f in analysis.fits:
        ci = f"[{f.slope_ci_low:.3g}, {f.slope_ci_high:.3g}]"
        lines.append(
            f"{f.group:<24} {f.x_name:<13} {f.n:>3} {f.slope:>9.4f} {ci:>21} {f.intercept:>9.4f} {f.r2:>6.3f}  {f.verdict}"
        )
    lines += [f"note: {note}" for note in analysis.notes]
    return "\n".join(lines)


def run_names(runs: Sequence[str | Path]) -> list[str]:
    """A distinct label per run directory: its name, or parent/name when names repeat."""
    names = [Path(run).name for run in runs]
    if len(set(names)) == len(names):
        return names
    labels = [f"{Path(run).parent.name}/{Path(run).name}" for run in runs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"runs cannot be told apart by their directory names: {[str(r) for r in runs]}")
    return labels


def run_scaling(
    runs: Sequence[str | Path],
    cases: Sequence[Case],
    config: SizeConfig,
    *,
    split_seed: int = 0,
    finetunes: int = 1,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> list[ScalingPoint]:
    """Fine-tune and evaluate classifiers from every checkpoint of every adaptation run.

    Args:
        finetunes: classifiers per checkpoint, with fine-tuning seeds ``config.finetune.seed``,
            ``+1``, ...; each point carries their mean loss and accuracy and the loss's standard
            deviation. Every checkpoint gets the same seeds (the same head inits and batch orders)
            and is evaluated on the same held-out half, so what differs between points is the
            checkpoint.
    """
    from abkit.training.pipeline import adaptation_record, run_finetune

    if finetunes < 1:
        raise ValueError(f"finetunes must be at least 1, got {finetunes}")
    seeds = [config.finetune.seed + i for i in range(finetunes)]
    points = []
    for run, name in zip(runs, run_names(runs), strict=True):
        for checkpoint in list_checkpoints(run):
            reports = [
                run_finetune(
                    checkpoint.path,
                    cases,
                    replace(config, finetune=replace(config.finetune, seed=seed)),
                    None,
                    split_seed=split_seed,
                    with_encoder=False,
                    runtime=runtime,
                    progress=progress,
                )
                for seed in seeds
            ]
            losses = [report.metrics.loss for report in reports]
            record = adaptation_record(checkpoint.path)
            points.append(
                ScalingPoint(
                    run=name,
                    step=checkpoint.step,
                    parameters=int(record.get("parameters", reports[0].parameters)),
                    tokens=checkpoint.tokens,
                    lm_loss=checkpoint.heldout_loss,
                    cls_loss=statistics.fmean(losses),
                    top1=statistics.fmean(report.metrics.top1 for report in reports),
                    top5=statistics.fmean(report.metrics.top5 for report in reports),
                    majority_loss=reports[0].majority.loss,
                    finetunes=len(reports),
                    cls_loss_sd=statistics.stdev(losses) if len(losses) > 1 else None,
                )
            )
    return points
