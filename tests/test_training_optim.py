from __future__ import annotations

import math

import pytest
import torch

from abkit.training.optim import Runtime, build_optimizer, mixed_precision_for_cuda, warmup_steps_for


def test_the_schedule_is_transformers_warmup_then_cosine_to_zero():
    model = torch.nn.Linear(2, 2)
    _, scheduler = build_optimizer(
        model,
        learning_rate=1.0,
        weight_decay=0.0,
        betas=(0.9, 0.95),
        total_steps=110,
        warmup_fraction=10 / 110,
        fused=False,
    )
    rates = []
    for _ in range(111):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    # Worked by hand: 10 warmup steps from 0, then 0.5 * (1 + cos(pi * progress)) over the other 100.
    assert rates[0] == 0.0 and rates[5] == pytest.approx(0.5) and rates[10] == pytest.approx(1.0)
    assert rates[60] == pytest.approx(0.5) and rates[35] == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert rates[110] == pytest.approx(0.0)


def test_warmup_is_one_percent_of_the_steps_and_at_least_one():
    assert warmup_steps_for(1000, 0.01) == 10
    assert warmup_steps_for(20, 0.01) == 1
    assert warmup_steps_for(20, 0.0) == 0


def test_optimizer_uses_the_given_betas_and_decays_matrices_only():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    optimizer, scheduler = build_optimizer(
        model,
        learning_rate=1e-3,
        weight_decay=0.01,
        betas=(0.9, 0.95),
        total_steps=100,
        warmup_fraction=0.01,
        fused=False,
    )
    decay, no_decay = optimizer.param_groups
    assert decay["betas"] == (0.9, 0.95) and decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert [p.ndim for p in decay["params"]] == [2]
    assert len(no_decay["params"]) == 3  # linear bias, norm weight and bias
    assert scheduler.get_last_lr()[0] == 0.0  # one warmup step, from zero (transformers' schedule)


def test_cpu_runtime_trains_in_float32():
    runtime = Runtime.detect("cpu")
    assert runtime.mixed_precision == "no" and runtime.autocast_dtype is None and not runtime.fused_adamw


def test_gpus_without_bf16_train_in_fp16():
    assert mixed_precision_for_cuda(True) == "bf16" and mixed_precision_for_cuda(False) == "fp16"
