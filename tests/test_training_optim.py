from __future__ import annotations

import math

import pytest
import torch

from abkit.training.optim import Runtime, build_optimizer, warmup_cosine, warmup_steps_for


def test_warmup_is_linear_then_cosine_decays_to_zero():
    # Worked by hand: 10 warmup steps of 110, then 0.5 * (1 + cos(pi * progress)).
    assert warmup_cosine(0, total_steps=110, warmup_steps=10) == pytest.approx(0.1)
    assert warmup_cosine(4, total_steps=110, warmup_steps=10) == pytest.approx(0.5)
    assert warmup_cosine(10, total_steps=110, warmup_steps=10) == pytest.approx(1.0)
    assert warmup_cosine(60, total_steps=110, warmup_steps=10) == pytest.approx(0.5)
    assert warmup_cosine(35, total_steps=110, warmup_steps=10) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert warmup_cosine(110, total_steps=110, warmup_steps=10) == pytest.approx(0.0)


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
    assert scheduler.get_last_lr()[0] == pytest.approx(1e-3)  # one warmup step: full rate at step 0


def test_cpu_runtime_trains_in_float32():
    runtime = Runtime.detect("cpu")
    assert runtime.autocast_dtype is None and not runtime.fused_adamw
