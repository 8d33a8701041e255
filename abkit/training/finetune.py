"""Phase 2: discriminative fine-tuning of a sequence classifier, and its evaluation.

The decoder (GPT-NeoX) gets a new linear head over the template labels and pools the
right-most non-padding token: ``GPTNeoXForSequenceClassification`` finds, per row, the last
position whose id differs from ``config.pad_token_id``, which with right padding is the last
real token. The same loop trains the encoder baseline (see ``encoder.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification

from abkit.training.config import FinetuneSettings
from abkit.training.examples import EncodedExamples, LabelMap, iterate_batches
from abkit.training.metrics import ClassificationMetrics, MetricAccumulator
from abkit.training.optim import Runtime, build_optimizer, seed_everything


@dataclass(frozen=True)
class LoopSettings:
    """What the classification loop needs, whichever model it trains."""

    learning_rate: float
    batch_size: int
    epochs: int
    weight_decay: float
    warmup_fraction: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 0

    @classmethod
    def from_finetune(cls, settings: FinetuneSettings) -> LoopSettings:
        return cls(
            settings.learning_rate,
            settings.batch_size,
            settings.epochs,
            settings.weight_decay,
            settings.warmup_fraction,
            settings.max_grad_norm,
            settings.seed,
        )


@dataclass(frozen=True)
class FinetuneResult:
    """A trained classifier's record.

    Attributes:
        curve: training loss per optimizer step.
        tokens_seen: input tokens processed (all epochs).
        epoch_metrics: held-out metrics after each epoch (when held-out data was given).
        best_epoch: 1-based epoch whose weights were kept (lowest held-out loss), or the last.
    """

    curve: tuple[float, ...]
    tokens_seen: int
    epoch_metrics: tuple[ClassificationMetrics, ...]
    best_epoch: int


def ensure_pad_token(tokenizer: Any) -> int:
    """The pad token id, setting one when the tokenizer has none (Pythia ships ``<|padding|>``)."""
    if tokenizer.pad_token_id is None:
        vocab = tokenizer.get_vocab()
        tokenizer.pad_token = "<|padding|>" if "<|padding|>" in vocab else tokenizer.eos_token
    tokenizer.padding_side = "right"
    return int(tokenizer.pad_token_id)


def classifier_from_pretrained(source: str | Path, label_map: LabelMap, pad_token_id: int, *, seed: int = 0) -> Any:
    """Load a causal-LM directory as a sequence classifier with a new, seeded linear head."""
    torch.manual_seed(seed)
    return AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(label_map),
        id2label=label_map.id2label,
        label2id=label_map.label2id,
        pad_token_id=pad_token_id,
        local_files_only=True,
    )


@torch.no_grad()
def evaluate_classifier(
    model: torch.nn.Module,
    data: EncodedExamples,
    pad_token_id: int,
    *,
    runtime: Runtime | None = None,
    batch_size: int = 32,
) -> ClassificationMetrics:
    """Held-out loss and top-1/3/5 accuracy."""
    runtime = runtime or Runtime.detect()
    was_training = model.training
    model.to(runtime.device).eval()
    accumulator = MetricAccumulator()
    for batch in iterate_batches(data, batch_size, pad_token_id):
        batch = batch.to(runtime.device)
        with runtime.autocast():
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        accumulator.add(logits, batch.labels)
    model.train(was_training)
    return accumulator.result()


def train_classifier(
    model: torch.nn.Module,
    train: EncodedExamples,
    pad_token_id: int,
    settings: LoopSettings,
    *,
    heldout: EncodedExamples | None = None,
    keep_best: bool = False,
    runtime: Runtime | None = None,
    progress: bool = True,
    desc: str = "finetune",
) -> FinetuneResult:
    """Train every parameter with AdamW (betas 0.9 / 0.999), warmup then cosine decay.

    Args:
        heldout: evaluated after each epoch when given.
        keep_best: restore the weights of the epoch with the lowest held-out loss.
    """
    runtime = runtime or Runtime.detect()
    seed_everything(settings.seed)
    model.to(runtime.device).train()
    steps_per_epoch = -(-len(train) // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    optimizer, scheduler = build_optimizer(
        model,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        betas=(0.9, 0.999),
        total_steps=total_steps,
        warmup_fraction=settings.warmup_fraction,
        fused=runtime.fused_adamw,
    )
    generator = torch.Generator().manual_seed(settings.seed)
    curve: list[float] = []
    epoch_metrics: list[ClassificationMetrics] = []
    best_state, best_epoch, best_loss = None, settings.epochs, float("inf")
    tokens = 0
    bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not progress)
    for epoch in range(1, settings.epochs + 1):
        for batch in iterate_batches(train, settings.batch_size, pad_token_id, generator=generator):
            batch = batch.to(runtime.device)
            with runtime.autocast():
                logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), batch.labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            tokens += int(batch.attention_mask.sum())
            curve.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{curve[-1]:.3f}")
        if heldout is not None:
            metrics = evaluate_classifier(model, heldout, pad_token_id, runtime=runtime, batch_size=settings.batch_size)
            epoch_metrics.append(metrics)
            bar.set_postfix(heldout_loss=f"{metrics.loss:.3f}", top5=f"{metrics.top5:.3f}")
            if keep_best and metrics.loss < best_loss:
                best_loss, best_epoch = metrics.loss, epoch
                best_state = copy.deepcopy(model.state_dict())
    bar.close()
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    return FinetuneResult(tuple(curve), tokens, tuple(epoch_metrics), best_epoch)
