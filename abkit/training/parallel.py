"""One process, or several under ``accelerate launch`` (DeepSpeed ZeRO or FSDP).

Adaptation calls the same few methods either way. With one process they are plain torch;
when ``accelerate launch`` starts several (``WORLD_SIZE`` > 1), an ``accelerate.Accelerator``
configured by ``accelerate config`` wraps the model and optimizer, each process takes its
slice of every micro-batch, and losses and token counts are summed across processes.
The multi-process path is not exercised by the tests (no GPUs in CI).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

ACCELERATE_STATE_DIR = "accelerate_state"


class Parallel:
    """The process group adaptation runs in."""

    def __init__(self, accelerator: Any | None = None):
        self.accelerator = accelerator

    @classmethod
    def detect(cls) -> Parallel:
        """An accelerator when launched with several processes, else single-process."""
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import Accelerator

            return cls(Accelerator())
        return cls()

    @property
    def distributed(self) -> bool:
        return self.accelerator is not None

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.accelerator else 0

    @property
    def world_size(self) -> int:
        return self.accelerator.num_processes if self.accelerator else 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, default: torch.device) -> torch.device:
        return self.accelerator.device if self.accelerator else default

    def prepare(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[Any, Any]:
        if self.accelerator is None:
            return model, optimizer
        return self.accelerator.prepare(model, optimizer)

    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This process's slice of a micro-batch (the whole of it with one process)."""
        return indices[self.rank :: self.world_size]

    def backward(self, loss: torch.Tensor) -> None:
        if self.accelerator is None:
            loss.backward()
        else:
            self.accelerator.backward(loss)

    def clip_grad_norm(self, model: torch.nn.Module, max_norm: float) -> None:
        if self.accelerator is None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        else:
            self.accelerator.clip_grad_norm_(model.parameters(), max_norm)

    def total(self, value: float, device: torch.device) -> float:
        """Sum of ``value`` over processes."""
        if self.accelerator is None:
            return value
        return float(self.accelerator.reduce(torch.tensor(value, device=device, dtype=torch.float64), reduction="sum"))

    def unwrap(self, model: Any) -> Any:
        return self.accelerator.unwrap_model(model) if self.accelerator else model

    def save_model(self, model: Any, tokenizer: Any, directory: Path) -> None:
        if self.accelerator is None:
            model.save_pretrained(directory)
            tokenizer.save_pretrained(directory)
            return
        # Gathers ZeRO-3 / FSDP shards into one state dict on the main process.
        state = self.accelerator.get_state_dict(model)
        self.unwrap(model).save_pretrained(
            directory, is_main_process=self.is_main, save_function=self.accelerator.save, state_dict=state
        )
        if self.is_main:
            tokenizer.save_pretrained(directory)
        self.accelerator.wait_for_everyone()

    def save_optimizer(self, directory: Path) -> None:
        """Sharded optimizer state (ZeRO/FSDP) goes through accelerate; single-process state is in trainer_state.pt."""
        if self.accelerator is not None:
            self.accelerator.save_state(str(directory / ACCELERATE_STATE_DIR))

    def load_optimizer(self, directory: Path) -> None:
        if self.accelerator is not None:
            self.accelerator.load_state(str(directory / ACCELERATE_STATE_DIR))
