"""The one training path: HF accelerate, in one process or several (``accelerate launch``).

Both phases (adaptation and classifier fine-tuning) train through an ``accelerate.Accelerator``:

- **mixed precision** on CUDA: bf16, or fp16 where bf16 is not supported, with accelerate's
  gradient scaler (``accelerator.backward`` scales the loss, ``clip_grad_norm_`` unscales, the
  prepared optimizer skips a step whose gradients overflowed and the prepared scheduler then
  does not advance). ``accelerate config`` / ``accelerate launch --mixed_precision`` win over
  the default. CPUs train in float32;
- **gradient accumulation** with ``accelerator.accumulate`` (``no_sync`` under several
  processes: gradients are all-reduced once per optimizer step, not once per micro-batch);
- **one global batch**: a micro-batch of ``batch_size`` rows is split across the processes
  (``split_batches``), so the data order, the learning-rate schedule and the loss are those
  of one process. Each process weights its rows' loss by its share of the micro-batch's
  tokens (or rows), so the gradient all-reduce (a mean) gives exactly the single-process
  gradient, however unevenly the rows fall;
- **checkpoints** through ``save_state`` / ``load_state`` (model, optimizer, scheduler,
  gradient scaler, every process's RNG states; ZeRO / FSDP shards included).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from abkit.training.optim import Runtime

ACCELERATE_STATE_DIR = "accelerate_state"


class ShardingError(ValueError):
    """A micro-batch that cannot give every process at least one row."""


def make_accelerator(runtime: Runtime, *, gradient_accumulation_steps: int = 1) -> Any:
    """The accelerator for one training run.

    Under ``accelerate launch`` the process group, device and (when configured) mixed precision
    come from the launcher; otherwise ``runtime`` decides: its device, and bf16 / fp16 on CUDA.
    """
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if not launched and runtime.device.type == "cuda" and runtime.device.index is not None:
        torch.cuda.set_device(runtime.device)
    configured = os.environ.get("ACCELERATE_MIXED_PRECISION")
    return Accelerator(
        cpu=runtime.device.type == "cpu" and not launched,
        mixed_precision=None if configured else runtime.mixed_precision,
        gradient_accumulation_steps=gradient_accumulation_steps,
        # A batch is split across processes: one schedule step per optimizer step, whatever the world size.
        dataloader_config=DataLoaderConfiguration(split_batches=True),
        step_scheduler_with_optimizer=True,
    )


def prepare(accelerator: Any, model: Any, optimizer: Any, scheduler: Any, *, batch_size: int) -> tuple[Any, Any, Any]:
    """``accelerator.prepare`` without dataloaders.

    DeepSpeed sizes its batches from a dataloader; there is none here, so its micro-batch per
    GPU is set from ``batch_size`` (split across the processes) when its config leaves it to us,
    and its gradient accumulation (read from its own config) must be the size config's.

    Raises:
        ValueError: DeepSpeed's gradient accumulation differs from the size config's.
    """
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    wanted = accelerator.gradient_accumulation_steps
    if plugin is not None and plugin.is_auto("train_micro_batch_size_per_gpu"):
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = max(1, batch_size // accelerator.num_processes)
    prepared = accelerator.prepare(model, optimizer, scheduler)
    if accelerator.gradient_accumulation_steps != wanted:
        raise ValueError(
            f"DeepSpeed's config accumulates {accelerator.gradient_accumulation_steps} micro-batches but the size "
            f"config {wanted}: set gradient_accumulation_steps in the DeepSpeed config to {wanted}"
        )
    return prepared


@dataclass(frozen=True)
class Shard:
    """This process's rows of a micro-batch and the weight of their loss.

    Attributes:
        rows: row indices into the micro-batch (never empty: a process without a row of its
            own runs a stand-in row whose loss is weighted 0, so it still joins the all-reduce).
        weight: multiplies this process's mean loss so that the mean over processes of the
            weighted losses is the loss of the whole micro-batch.
        share: this process's part of the micro-batch loss (for logging: sums to 1 over processes).
    """

    rows: torch.Tensor
    weight: float
    share: float


def shard_rows(units: torch.Tensor, *, rank: int, world_size: int) -> Shard:
    """Split a micro-batch whose row ``i`` carries ``units[i]`` loss terms (tokens or 1 per row).

    Raises:
        ShardingError: the micro-batch has no loss terms at all.
    """
    rows = torch.arange(len(units))[rank::world_size]
    total = float(units.sum())
    if total <= 0:
        raise ShardingError("a micro-batch without any loss term (every row is padding)")
    if len(rows) == 0:
        return Shard(torch.arange(1), 0.0, 0.0)
    share = float(units[rows].sum()) / total
    return Shard(rows, share * world_size, share)


def check_batch_size(batch_size: int, world_size: int, *, where: str) -> None:
    """Refuse a batch that would leave processes without rows on every micro-batch.

    Raises:
        ShardingError: ``batch_size`` is smaller than the number of processes.
    """
    if batch_size < world_size:
        raise ShardingError(
            f"{where}: batch_size {batch_size} is smaller than the {world_size} processes; each process needs at "
            f"least one row per micro-batch: raise batch_size to {world_size} or more, or launch fewer processes"
        )


def reduce_sum(accelerator: Any, value: torch.Tensor) -> float:
    """Sum over processes, read back to the host (one device sync: call it at log intervals)."""
    return float(accelerator.reduce(value.detach().double(), reduction="sum"))


def cpu_state_dict(accelerator: Any, model: Any) -> dict[str, torch.Tensor]:
    """A copy of the weights in CPU memory (keep-best): the device holds no second copy."""
    state = accelerator.unwrap_model(model).state_dict()
    return {key: value.detach().to("cpu", copy=True) for key, value in state.items()}


def is_main_process() -> bool:
    """True in a single process, and in the first of several under ``accelerate launch``."""
    from accelerate import PartialState

    return bool(PartialState().is_main_process)


def show_progress(progress: bool, accelerator: Any) -> bool:
    """Progress bars only when asked for, on the main process, and on a terminal."""
    return progress and accelerator.is_main_process and sys.stderr.isatty()


def save_training_state(accelerator: Any, directory: Path) -> None:
    """Optimizer, scheduler, scaler, RNG states (and model shards) of every process."""
    accelerator.save_state(str(directory / ACCELERATE_STATE_DIR))


def load_training_state(accelerator: Any, directory: Path) -> None:
    """Restore what :func:`save_training_state` wrote into the prepared objects.

    Raises:
        FileNotFoundError: the checkpoint has no training state.
    """
    state = directory / ACCELERATE_STATE_DIR
    if not state.is_dir():
        raise FileNotFoundError(f"{directory}: no {ACCELERATE_STATE_DIR}/ to resume from")
    accelerator.load_state(str(state))


def save_model(accelerator: Any, model: Any, tokenizer: Any, directory: Path) -> None:
    """``save_pretrained`` of the whole model (ZeRO-3 / FSDP shards gathered) and the tokenizer, by the main process."""
    state = accelerator.get_state_dict(model)
    accelerator.unwrap_model(model).save_pretrained(
        directory, is_main_process=accelerator.is_main_process, save_function=accelerator.save, state_dict=state
    )
    if accelerator.is_main_process:
        tokenizer.save_pretrained(directory)
    accelerator.wait_for_everyone()
