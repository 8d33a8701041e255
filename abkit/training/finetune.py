"""Phase 2: discriminative fine-tuning of a sequence classifier, and its evaluation.

The decoder (GPT-NeoX) gets a new linear head over the template labels and pools the
right-most non-padding token: ``GPTNeoXForSequenceClassification`` finds, per row, the last
position whose id differs from ``config.pad_token_id``, which with right padding is the last
real token. The same loop trains the encoder baseline (see ``encoder.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification

from abkit.training.accel import (
    check_batch_size,
    cpu_state_dict,
    make_accelerator,
    prepare,
    reduce_sum,
    shard_rows,
    show_progress,
)
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
    log_every: int = 10  # optimizer steps between reading the training loss back from the device

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
            settings.log_every,
        )


@dataclass(frozen=True)
class FinetuneResult:
    """A trained classifier's record.

    Attributes:
        curve: mean training loss over each log interval (``log_every`` steps, and the end of each epoch).
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

    Through accelerate, as adaptation: in one process or, under ``accelerate launch``, with each
    batch split across the processes (one global batch, the same schedule).

    Args:
        heldout: evaluated after each epoch when given.
        keep_best: restore the weights of the epoch with the lowest held-out loss (kept in CPU memory).

    Raises:
        ShardingError: fewer rows per batch than processes.
    """
    runtime = runtime or Runtime.detect()
    accelerator = make_accelerator(runtime)
    check_batch_size(settings.batch_size, accelerator.num_processes, where=desc)
    seed_everything(settings.seed)
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
    model.train()
    prepared, optimizer, scheduler = prepare(accelerator, model, optimizer, scheduler, batch_size=settings.batch_size)
    device = accelerator.device
    generator = torch.Generator().manual_seed(settings.seed)
    curve: list[float] = []
    epoch_metrics: list[ClassificationMetrics] = []
    best_state, best_epoch, best_loss = None, settings.epochs, float("inf")
    tokens, step, since_log = 0, 0, 0
    running = torch.zeros((), device=device)  # summed on the device, read back at log intervals only
    bar = tqdm(total=total_steps, desc=desc, unit="step", disable=not show_progress(progress, accelerator))
    for epoch in range(1, settings.epochs + 1):
        for batch in iterate_batches(train, settings.batch_size, pad_token_id, generator=generator):
            shard = shard_rows(
                torch.ones(len(batch.labels)), rank=accelerator.process_index, world_size=accelerator.num_processes
            )
            part = batch.rows(shard.rows).to(device)
            tokens += int(batch.attention_mask.sum())
            with accelerator.accumulate(prepared):
                logits = prepared(input_ids=part.input_ids, attention_mask=part.attention_mask).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), part.labels)
                accelerator.backward(loss * shard.weight)
                running += loss.detach() * shard.share
                if accelerator.sync_gradients and settings.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(prepared.parameters(), settings.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            step, since_log = step + 1, since_log + 1
            if (settings.log_every and step % settings.log_every == 0) or step == steps_per_epoch * epoch:
                curve.append(reduce_sum(accelerator, running) / since_log)
                running.zero_()
                since_log = 0
                bar.set_postfix(loss=f"{curve[-1]:.3f}")
            bar.update(1)
        if heldout is not None:
            unwrapped = accelerator.unwrap_model(prepared)
            metrics = evaluate_classifier(
                unwrapped, heldout, pad_token_id, runtime=runtime, batch_size=settings.batch_size
            )
            unwrapped.train()
            epoch_metrics.append(metrics)
            bar.set_postfix(heldout_loss=f"{metrics.loss:.3f}", top5=f"{metrics.top5:.3f}")
            if keep_best and metrics.loss < best_loss:
                best_loss, best_epoch = metrics.loss, epoch
                best_state = cpu_state_dict(accelerator, prepared)
    bar.close()
    # The caller's module again, without accelerate's autocast wrapper around its forward.
    trained = accelerator.unwrap_model(prepared, keep_fp32_wrapper=False)
    if keep_best and best_state is not None:
        trained.load_state_dict(best_state)
    accelerator.free_memory()
    return FinetuneResult(tuple(curve), tokens, tuple(epoch_metrics), best_epoch)
