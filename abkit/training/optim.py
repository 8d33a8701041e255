"""Optimizer, learning-rate schedule, device and random state shared by both phases."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Runtime:
    """Where training runs: device, autocast dtype (bf16 on CUDA) and fused AdamW."""

    device: torch.device
    autocast_dtype: torch.dtype | None
    fused_adamw: bool

    @classmethod
    def detect(cls, device: str | None = None) -> Runtime:
        """CUDA with bf16 autocast and fused AdamW when present, else CPU in float32."""
        chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if chosen.type == "cuda":
            bf16 = torch.cuda.is_bf16_supported()
            return cls(chosen, torch.bfloat16 if bf16 else torch.float16, fused_adamw=True)
        return cls(chosen, None, fused_adamw=False)

    def autocast(self) -> Any:
        if self.autocast_dtype is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)


def warmup_cosine(step: int, *, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier: linear warmup to 1, then cosine decay to 0 at ``total_steps``.

    ``step`` counts optimizer steps taken so far (0 before the first).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_steps_for(total_steps: int, fraction: float) -> int:
    """Warmup length: ``fraction`` of the steps, at least one step when there is any."""
    return max(1, round(total_steps * fraction)) if fraction > 0 else 0


def build_optimizer(
    model: torch.nn.Module,
    *,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float],
    total_steps: int,
    warmup_fraction: float,
    fused: bool,
) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with decoupled weight decay on matrices only (not biases or norms) and the schedule."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=fused or None)
    warmup = warmup_steps_for(total_steps, warmup_fraction)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps=total_steps, warmup_steps=warmup)
    )
    return optimizer, scheduler


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every random state that training touches, to save in a checkpoint."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
