"""Phase 1: causal-LM domain adaptation on packed transcripts, with checkpoints and resume.

AdamW (betas from the size config, 0.9 / 0.95), weight decay 0.01, linear warmup over 1% of
the steps then cosine decay to zero, trained through accelerate (``abkit.training.accel``): the
same code in one process and under ``accelerate launch``. Every ``checkpoint_every`` optimizer
steps from ``first_checkpoint`` (and at step 0 and at the end) a checkpoint directory ``checkpoint-NNNNNN`` holds the
model and tokenizer (``save_pretrained``), the held-out LM loss (``checkpoint.json``), the run's
record (``trainer_state.json``) and accelerate's training state (``accelerate_state/``:
optimizer, scheduler, gradient scaler, RNG states), so a resumed run continues the same curve.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from abkit.training.accel import (
    check_batch_size,
    load_training_state,
    make_accelerator,
    prepare,
    reduce_sum,
    save_model,
    save_training_state,
    shard_rows,
    show_progress,
)
from abkit.training.config import AdaptSettings
from abkit.training.optim import Runtime, build_optimizer, seed_everything
from abkit.training.packing import PackedCorpus

STATE_FILE = "trainer_state.json"
CHECKPOINT_INFO = "checkpoint.json"
SUMMARY_FILE = "adapt_summary.json"


@dataclass(frozen=True)
class LossPoint:
    """Mean training loss over the optimizer steps since the previous point (read at log intervals)."""

    step: int
    tokens: int  # tokens seen so far
    loss: float
    learning_rate: float  # of the step that ends the interval
    elapsed_s: float = 0.0  # wall seconds since this process began training (a resumed run counts from 0)


@dataclass(frozen=True)
class Checkpoint:
    """A saved adaptation checkpoint and its held-out LM loss."""

    step: int
    tokens: int
    heldout_loss: float
    path: str


@dataclass(frozen=True)
class AdaptResult:
    """What an adaptation run produced."""

    curve: tuple[LossPoint, ...]
    checkpoints: tuple[Checkpoint, ...]
    total_steps: int
    tokens_seen: int
    parameters: int
    fill_rate: float

    @property
    def flops(self) -> float:
        """Estimated training compute, 6 * N * D (Kaplan et al. 2020)."""
        return 6.0 * self.parameters * self.tokens_seen

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]


def plan_steps(n_sequences: int, settings: AdaptSettings) -> tuple[int, int]:
    """(micro-batches per epoch, optimizer steps in the run)."""
    per_epoch = -(-n_sequences // settings.batch_size)
    if settings.max_steps:
        return per_epoch, settings.max_steps
    return per_epoch, max(1, -(-settings.epochs * per_epoch // settings.gradient_accumulation_steps))


def micro_batch_indices(index: int, *, n_sequences: int, per_epoch: int, batch_size: int, seed: int) -> torch.Tensor:
    """Sequence indices of global micro-batch ``index``: a seeded permutation per epoch.

    A pure function of its arguments, so a resumed run draws exactly the batches the
    uninterrupted run would have drawn.
    """
    epoch, position = divmod(index, per_epoch)
    order = torch.randperm(n_sequences, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[position * batch_size : (position + 1) * batch_size]


def target_counts(corpus: PackedCorpus) -> torch.Tensor:
    """Next-token targets per packed sequence (positions 1.. that are not padding)."""
    return corpus.attention_mask[:, 1:].sum(dim=1)


@torch.no_grad()
def heldout_loss(model: Any, corpus: PackedCorpus, accelerator: Any, batch_size: int) -> float:
    """Mean next-token cross-entropy over the held-out packed sequences (padding ignored).

    Every process takes its rows of each batch (the same number of forward passes on each, as
    a sharded model needs), and the sums are added across processes.
    """
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=accelerator.device)
    count = int(target_counts(corpus).sum())
    labels = corpus.labels()
    units = target_counts(corpus)
    for start in range(0, corpus.n_sequences, batch_size):
        batch = torch.arange(start, min(start + batch_size, corpus.n_sequences))
        shard = shard_rows(units[batch], rank=accelerator.process_index, world_size=accelerator.num_processes)
        rows = batch[shard.rows]
        ids = corpus.input_ids[rows].to(accelerator.device)
        mask = corpus.attention_mask[rows].to(accelerator.device)
        target = labels[rows].to(accelerator.device)
        logits = model(input_ids=ids, attention_mask=mask).logits
        # Shifted: position t predicts token t+1; -100 targets (padding) are ignored.
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1), reduction="sum"
        )
        if shard.share > 0:  # not a stand-in row
            total += losses.double()
    model.train(was_training)
    return reduce_sum(accelerator, total) / max(count, 1)


def adapt(
    model: torch.nn.Module,
    tokenizer: Any,
    train: PackedCorpus,
    heldout: PackedCorpus,
    settings: AdaptSettings,
    out_dir: str | Path,
    *,
    runtime: Runtime | None = None,
    resume_from: str | Path | None = None,
    progress: bool = True,
) -> AdaptResult:
    """Run (or resume) domain adaptation and write checkpoints under ``out_dir``.

    The same call trains in one process or, under ``accelerate launch``, in several: each
    micro-batch of ``settings.batch_size`` sequences is split across them.

    Args:
        model: a causal LM; when resuming, loaded from ``resume_from`` (``from_pretrained``).
        tokenizer: saved beside every checkpoint so each is a complete model directory.
        train: packed training sequences.
        heldout: packed held-out sequences for the LM loss at each checkpoint.
        settings: the size config's ``[adapt]`` table.
        out_dir: where ``checkpoint-NNNNNN`` directories and ``adapt_summary.json`` go.
        runtime: device and precision; detected when omitted.
        resume_from: a checkpoint directory of an interrupted run with the same settings.
        progress: show a progress bar (on a terminal, main process only).

    Raises:
        ShardingError: fewer sequences per micro-batch than processes.
        ValueError: resuming with settings that plan a different number of steps.
    """
    runtime = runtime or Runtime.detect()
    accumulation = settings.gradient_accumulation_steps
    accelerator = make_accelerator(runtime, gradient_accumulation_steps=accumulation)
    check_batch_size(settings.batch_size, accelerator.num_processes, where="[adapt]")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_epoch, total_steps = plan_steps(train.n_sequences, settings)
    seed_everything(settings.seed)
    optimizer, scheduler = build_optimizer(
        model,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        betas=(settings.beta1, settings.beta2),
        total_steps=total_steps,
        warmup_fraction=settings.warmup_fraction,
        fused=runtime.fused_adamw,
    )
    parameters = sum(p.numel() for p in model.parameters())
    model.train()
    model, optimizer, scheduler = prepare(accelerator, model, optimizer, scheduler, batch_size=settings.batch_size)
    run = _Run(out, accelerator, model, tokenizer, heldout, settings, total_steps)
    if resume_from is not None:
        run.restore(Path(resume_from))
    else:
        run.save()
    device = accelerator.device
    units = target_counts(train)
    running = torch.zeros((), device=device)  # summed on the device, read back at log intervals only
    since_log = 0
    started = time.perf_counter()
    bar = tqdm(
        total=total_steps, initial=run.step, desc="adapt", unit="step", disable=not show_progress(progress, accelerator)
    )
    while run.step < total_steps:
        learning_rate = float(scheduler.get_last_lr()[0])
        for micro in range(accumulation):
            indices = micro_batch_indices(
                run.step * accumulation + micro,
                n_sequences=train.n_sequences,
                per_epoch=per_epoch,
                batch_size=settings.batch_size,
                seed=settings.seed,
            )
            shard = shard_rows(units[indices], rank=accelerator.process_index, world_size=accelerator.num_processes)
            rows = indices[shard.rows]
            ids = train.input_ids[rows].to(device, non_blocking=True)
            mask = train.attention_mask[rows].to(device, non_blocking=True)
            run.tokens += int(train.attention_mask[indices].sum())  # the whole micro-batch, counted on the host
            with accelerator.accumulate(model):
                loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
                accelerator.backward(loss * shard.weight)  # divided by the accumulation steps inside
                running += loss.detach() * shard.share
                if accelerator.sync_gradients and settings.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                optimizer.step()  # a no-op until the last micro-batch of the step (and on fp16 overflow)
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        run.step += 1
        since_log += 1
        checkpoint_due = settings.checkpoint_due(run.step, total_steps)
        if checkpoint_due or (settings.log_every and run.step % settings.log_every == 0):
            mean = reduce_sum(accelerator, running) / (since_log * accumulation)  # waits for the device
            run.curve.append(LossPoint(run.step, run.tokens, mean, learning_rate, time.perf_counter() - started))
            running.zero_()
            since_log = 0
            bar.set_postfix(loss=f"{mean:.3f}")
        bar.update(1)
        if checkpoint_due:
            checkpoint = run.save()
            bar.set_postfix(loss=f"{run.curve[-1].loss:.3f}", heldout=f"{checkpoint.heldout_loss:.3f}")
    bar.close()
    result = AdaptResult(tuple(run.curve), tuple(run.checkpoints), total_steps, run.tokens, parameters, train.fill_rate)
    if accelerator.is_main_process:
        summary = {
            "tokens_seen": run.tokens,
            "parameters": parameters,
            "flops": result.flops,
            "fill_rate": train.fill_rate,
            "processes": accelerator.num_processes,
            "mixed_precision": accelerator.mixed_precision,
            **run.record(),
        }
        Path(out, SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    accelerator.wait_for_everyone()
    accelerator.free_memory()
    return result


@dataclass
class _Run:
    """The state of one adaptation run, and how a checkpoint of it is written and read."""

    out: Path
    accelerator: Any
    model: Any
    tokenizer: Any
    heldout: PackedCorpus
    settings: AdaptSettings
    total_steps: int
    step: int = 0
    tokens: int = 0
    curve: list[LossPoint] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)

    def save(self) -> Checkpoint:
        loss = heldout_loss(self.model, self.heldout, self.accelerator, self.settings.batch_size)
        directory = self.out / f"checkpoint-{self.step:06d}"
        save_model(self.accelerator, self.model, self.tokenizer, directory)
        save_training_state(self.accelerator, directory)
        checkpoint = Checkpoint(self.step, self.tokens, loss, str(directory))
        self.checkpoints.append(checkpoint)
        if self.accelerator.is_main_process:
            parameters = sum(p.numel() for p in self.accelerator.unwrap_model(self.model).parameters())
            info = {**asdict(checkpoint), "parameters": parameters}
            Path(directory, CHECKPOINT_INFO).write_text(json.dumps(info, indent=2))
            Path(directory, STATE_FILE).write_text(json.dumps(self.record(), indent=2))
        self.accelerator.wait_for_everyone()
        return checkpoint

    def record(self) -> dict[str, Any]:
        """Where the run stands: what ``trainer_state.json`` holds and ``restore`` reads."""
        return {
            "step": self.step,
            "tokens": self.tokens,
            "total_steps": self.total_steps,
            "curve": [asdict(point) for point in self.curve],
            "checkpoints": [asdict(c) for c in self.checkpoints],
        }

    def restore(self, directory: Path) -> None:
        path = directory / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{directory}: not a checkpoint to resume from (no {STATE_FILE})")
        record = json.loads(path.read_text())
        if record["total_steps"] != self.total_steps:
            raise ValueError(
                f"{directory}: checkpoint plans {record['total_steps']} steps but these settings plan "
                f"{self.total_steps}; resume with the settings and corpus of the interrupted run"
            )
        load_training_state(self.accelerator, directory)
        self.step, self.tokens = record["step"], record["tokens"]
        self.curve = [LossPoint(**point) for point in record["curve"]]
        self.checkpoints = [Checkpoint(**c) for c in record["checkpoints"]]


def read_checkpoint_info(directory: str | Path) -> Checkpoint:
    """The step, tokens and held-out LM loss recorded with a checkpoint directory."""
    path = Path(directory, CHECKPOINT_INFO)
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not an adaptation checkpoint (no {CHECKPOINT_INFO})")
    data = json.loads(path.read_text())
    return Checkpoint(step=data["step"], tokens=data["tokens"], heldout_loss=data["heldout_loss"], path=str(directory))


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Checkpoints of an adaptation run directory, in step order."""
    found = [
        read_checkpoint_info(p) for p in sorted(Path(run_dir).glob("checkpoint-*")) if (p / CHECKPOINT_INFO).is_file()
    ]
    if not found:
        raise FileNotFoundError(f"{run_dir}: no adaptation checkpoints (checkpoint-*/{CHECKPOINT_INFO})")
    return sorted(found, key=lambda c: c.step)
