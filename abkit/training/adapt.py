"""Phase 1: causal-LM domain adaptation on packed transcripts, with checkpoints and resume.

AdamW (betas from the size config, 0.9 / 0.95), weight decay 0.01, linear warmup over 1% of
the steps then cosine decay to zero. Every ``checkpoint_every`` optimizer steps (and at step 0
and at the end) a checkpoint directory ``checkpoint-NNNNNN`` holds the model and tokenizer
(``save_pretrained``), the held-out LM loss, and ``trainer_state.pt`` with the optimizer,
scheduler and every random state, so a resumed run continues the same loss curve.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from abkit.training.config import AdaptSettings
from abkit.training.optim import Runtime, build_optimizer, rng_state, seed_everything, set_rng_state
from abkit.training.packing import PackedCorpus
from abkit.training.parallel import Parallel

STATE_FILE = "trainer_state.pt"
CHECKPOINT_INFO = "checkpoint.json"
SUMMARY_FILE = "adapt_summary.json"


@dataclass(frozen=True)
class LossPoint:
    """Training loss after one optimizer step."""

    step: int
    tokens: int  # tokens seen so far
    loss: float
    learning_rate: float


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


@torch.no_grad()
def heldout_loss(model: torch.nn.Module, corpus: PackedCorpus, runtime: Runtime, batch_size: int) -> float:
    """Mean next-token cross-entropy over the held-out packed sequences (padding ignored)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    labels = corpus.labels()
    for start in range(0, corpus.n_sequences, batch_size):
        ids = corpus.input_ids[start : start + batch_size].to(runtime.device)
        mask = corpus.attention_mask[start : start + batch_size].to(runtime.device)
        target = labels[start : start + batch_size].to(runtime.device)
        with runtime.autocast():
            logits = model(input_ids=ids, attention_mask=mask).logits
        # Shifted: position t predicts token t+1; -100 targets (padding) are ignored.
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1), reduction="sum"
        )
        total += float(losses)
        count += int((target[:, 1:] != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


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
    parallel: Parallel | None = None,
) -> AdaptResult:
    """Run (or resume) domain adaptation and write checkpoints under ``out_dir``.

    Args:
        model: a causal LM; when resuming, loaded from ``resume_from`` (``from_pretrained``).
        tokenizer: saved beside every checkpoint so each is a complete model directory.
        train: packed training sequences.
        heldout: packed held-out sequences for the LM loss at each checkpoint.
        settings: the size config's ``[adapt]`` table.
        out_dir: where ``checkpoint-NNNNNN`` directories and ``adapt_summary.json`` go.
        runtime: device and precision; detected when omitted.
        resume_from: a checkpoint directory of an interrupted run with the same settings.
        progress: show a progress bar.
        parallel: the process group; detected (several processes under ``accelerate launch``).
    """
    parallel = parallel or Parallel.detect()
    if parallel.distributed:  # each process on the device accelerate gave it
        runtime = Runtime.detect(str(parallel.device(torch.device("cpu"))))
    runtime = runtime or Runtime.detect()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_epoch, total_steps = plan_steps(train.n_sequences, settings)
    model.to(runtime.device)
    model.train()
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
    model, optimizer = parallel.prepare(model, optimizer)
    run = _Run(out, model, tokenizer, optimizer, scheduler, heldout, runtime, parallel, settings, total_steps)
    if resume_from is not None:
        state = torch.load(Path(resume_from, STATE_FILE), weights_only=False)
        if state["total_steps"] != total_steps:
            raise ValueError(
                f"{resume_from}: checkpoint plans {state['total_steps']} steps but these settings plan {total_steps}; "
                "resume with the settings and corpus of the interrupted run"
            )
        if parallel.distributed:
            parallel.load_optimizer(Path(resume_from))
        else:
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        run.step, run.tokens = state["step"], state["tokens"]
        run.curve = [LossPoint(**point) for point in state["curve"]]
        run.checkpoints = [Checkpoint(**c) for c in state["checkpoints"]]
    else:
        seed_everything(settings.seed)
        run.save()
    accumulation = settings.gradient_accumulation_steps
    bar = tqdm(
        total=total_steps, initial=run.step, desc="adapt", unit="step", disable=not progress or not parallel.is_main
    )
    while run.step < total_steps:
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for micro in range(accumulation):
            indices = micro_batch_indices(
                run.step * accumulation + micro,
                n_sequences=train.n_sequences,
                per_epoch=per_epoch,
                batch_size=settings.batch_size,
                seed=settings.seed,
            )
            indices = parallel.shard(indices)  # the whole micro-batch with one process
            ids = train.input_ids[indices].to(runtime.device)
            mask = train.attention_mask[indices].to(runtime.device)
            with runtime.autocast():
                loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
            parallel.backward(loss / accumulation)
            step_loss += parallel.total(float(loss.detach()), runtime.device) / parallel.world_size / accumulation
            run.tokens += int(parallel.total(int(mask.sum()), runtime.device))
        if settings.max_grad_norm > 0:
            parallel.clip_grad_norm(model, settings.max_grad_norm)
        learning_rate = float(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
        run.step += 1
        run.curve.append(LossPoint(run.step, run.tokens, step_loss, learning_rate))
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}")
        if run.step % settings.checkpoint_every == 0 or run.step == total_steps:
            checkpoint = run.save()
            bar.set_postfix(loss=f"{step_loss:.3f}", heldout=f"{checkpoint.heldout_loss:.3f}")
    bar.close()
    result = AdaptResult(tuple(run.curve), tuple(run.checkpoints), total_steps, run.tokens, parameters, train.fill_rate)
    if parallel.is_main:
        summary = {
            "total_steps": total_steps,
            "tokens_seen": run.tokens,
            "parameters": parameters,
            "flops": result.flops,
            "fill_rate": train.fill_rate,
            "curve": [asdict(point) for point in run.curve],
            "checkpoints": [asdict(c) for c in run.checkpoints],
        }
        Path(out, SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return result


@dataclass
class _Run:
    """The state of one adaptation run, and how a checkpoint of it is written."""

    out: Path
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    heldout: PackedCorpus
    runtime: Runtime
    parallel: Parallel
    settings: AdaptSettings
    total_steps: int
    step: int = 0
    tokens: int = 0
    curve: list[LossPoint] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)

    def save(self) -> Checkpoint:
        # The RNG state is captured before evaluation so that evaluating never shifts the stream.
        rng = rng_state()
        loss = heldout_loss(self.model, self.heldout, self.runtime, self.settings.batch_size)
        directory = self.out / f"checkpoint-{self.step:06d}"
        self.parallel.save_model(self.model, self.tokenizer, directory)
        self.parallel.save_optimizer(directory)
        checkpoint = Checkpoint(self.step, self.tokens, loss, str(directory))
        self.checkpoints.append(checkpoint)
        if self.parallel.is_main:
            parameters = sum(p.numel() for p in self.parallel.unwrap(self.model).parameters())
            info = {**asdict(checkpoint), "parameters": parameters}
            Path(directory, CHECKPOINT_INFO).write_text(json.dumps(info, indent=2))
            torch.save(
                {
                    # Sharded (ZeRO/FSDP) optimizer state lives in accelerate_state/ instead.
                    "optimizer": None if self.parallel.distributed else self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rng,
                    "step": self.step,
                    "tokens": self.tokens,
                    "total_steps": self.total_steps,
                    "curve": [asdict(point) for point in self.curve],
                    "checkpoints": [asdict(c) for c in self.checkpoints],
                },
                directory / STATE_FILE,
            )
        set_rng_state(rng)
        return checkpoint


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
