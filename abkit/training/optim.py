"""Optimizer, learning-rate schedule, device and precision shared by both phases."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from transformers import get_cosine_schedule_with_warmup

MixedPrecision = Literal["no", "bf16", "fp16"]


@dataclass(frozen=True)
class Runtime:
    """Where training runs: device, mixed precision (bf16 on CUDA, fp16 without bf16) and fused AdamW."""

    device: torch.device
    mixed_precision: MixedPrecision
    fused_adamw: bool

    @classmethod
    def detect(cls, device: str | None = None) -> Runtime:
        """CUDA with bf16 (fp16 where bf16 is not supported) and fused AdamW when present, else CPU in float32."""
        chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if chosen.type == "cuda":
            return cls(chosen, mixed_precision_for_cuda(torch.cuda.is_bf16_supported()), fused_adamw=True)
        return cls(chosen, "no", fused_adamw=False)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.mixed_precision)

    def autocast(self) -> Any:
        """Autocast for evaluation outside a prepared model (training autocasts through accelerate)."""
        if self.autocast_dtype is None:
            return torch.autocast(device_type=self.device.type, enabled=False)
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)


def mixed_precision_for_cuda(bf16_supported: bool) -> MixedPrecision:
    """bf16 where the GPU has it; fp16 otherwise (trained with a gradient scaler, see ``accel``)."""
    return "bf16" if bf16_supported else "fp16"


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
    """AdamW with decoupled weight decay on matrices only (not biases or norms), and
    transformers' linear warmup then cosine decay to zero (``get_cosine_schedule_with_warmup``)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=fused or None)
    scheduler = get_cosine_schedule_with_warmup(
        optimizer,
        num_warmup_steps=warmup_steps_for(total_steps, warmup_fraction),
        num_training_steps=total_steps,
    )
    return optimizer, scheduler


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
