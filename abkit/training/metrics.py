"""Classification metrics: loss and top-1/3/5 accuracy, and the majority-class baseline."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

TOP_K = (1, 3, 5)


@dataclass(frozen=True)
class ClassificationMetrics:
    """Held-out classification figures.

    Attributes:
        n: examples evaluated.
        loss: mean cross-entropy in nats.
        top1, top3, top5: share of examples whose label is among the k highest scores.
    """

    n: int
    loss: float
    top1: float
    top3: float
    top5: float

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{key}": float(value) for key, value in asdict(self).items()}


class MetricAccumulator:
    """Sums of loss and top-k hits over batches of logits."""

    def __init__(self) -> None:
        self.n = 0
        self.loss_sum = 0.0
        self.hits = dict.fromkeys(TOP_K, 0)

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logits = logits.float()
        self.loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
        self.n += int(labels.numel())
        ranked = logits.topk(min(max(TOP_K), logits.shape[-1]), dim=-1).indices
        for k in TOP_K:
            self.hits[k] += int((ranked[:, :k] == labels[:, None]).any(dim=-1).sum())

    def result(self) -> ClassificationMetrics:
        if self.n == 0:
            raise ValueError("no examples were evaluated")
        return ClassificationMetrics(
            n=self.n,
            loss=self.loss_sum / self.n,
            top1=self.hits[1] / self.n,
            top3=self.hits[3] / self.n,
            top5=self.hits[5] / self.n,
        )


def majority_baseline(
    train_labels: Sequence[int], test_labels: Sequence[int], num_labels: int
) -> ClassificationMetrics:
    """Always predict the training set's most frequent classes, in order of frequency.

    The loss is the cross-entropy of the training label frequencies with add-one (Laplace)
    smoothing over all ``num_labels`` classes, so unseen classes keep a finite loss.
    """
    if not test_labels:
        raise ValueError("majority baseline: no test labels")
    counts = Counter(train_labels)
    # Ties broken by class index so the baseline is deterministic.
    ranking = [label for label, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    total = len(train_labels) + num_labels
    loss = -sum(math.log((counts.get(label, 0) + 1) / total) for label in test_labels) / len(test_labels)

    def top(k: int) -> float:
        chosen = set(ranking[:k])
        return sum(label in chosen for label in test_labels) / len(test_labels)

    return ClassificationMetrics(n=len(test_labels), loss=loss, top1=top(1), top3=top(3), top5=top(5))


def metrics_table(rows: Sequence[tuple[str, ClassificationMetrics]]) -> str:
    """A plain-text table of held-out figures, one row per model."""
    width = max(len("model"), *(len(name) for name, _ in rows))
    lines = [f"{'model':<{width}}  {'n':>6}  {'loss':>7}  {'top-1':>6}  {'top-3':>6}  {'top-5':>6}"]
    for name, m in rows:
        lines.append(f"{name:<{width}}  {m.n:>6}  {m.loss:>7.3f}  {m.top1:>6.1%}  {m.top3:>6.1%}  {m.top5:>6.1%}")
    return "\n".join(lines)
