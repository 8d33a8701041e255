from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from abkit.simulate.transcripts import generate_transcripts
from abkit.training.adapt import (
    SUMMARY_FILE,
    adapt,
    list_checkpoints,
    micro_batch_indices,
    plan_steps,
    read_checkpoint_info,
)
from abkit.training.config import AdaptSettings
from abkit.training.corpus import parse_cases, split_cases
from abkit.training.pipeline import load_base, pack_cases
from abkit.training.tiny import build_random_causal_lm
from tests.training_helpers import TINY


@pytest.fixture(scope="module")
def packed():
    cases = parse_cases(generate_transcripts(5, 60, n_templates=16))
    split = split_cases(cases, seed=0, test_fraction=0.2)
    _, tokenizer, _ = load_base(TINY, split.train)
    context = TINY.adapt.context_length
    return tokenizer, pack_cases(split.train, tokenizer, context), pack_cases(split.test, tokenizer, context)


def _random_model(tokenizer):
    tiny = TINY.tiny_model
    return build_random_causal_lm(
        tokenizer,
        hidden_size=tiny.hidden_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
        max_position_embeddings=64,
        seed=0,
    )


SETTINGS = AdaptSettings(
    context_length=64,
    learning_rate=3e-3,
    batch_size=4,
    gradient_accumulation_steps=2,
    max_steps=9,
    checkpoint_every=4,
    log_every=1,
    seed=1,
)


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_loss_curve(packed, tmp_path):
    tokenizer, train, heldout = packed
    full = adapt(_random_model(tokenizer), tokenizer, train, heldout, SETTINGS, tmp_path / "full", progress=False)
    assert [c.step for c in full.checkpoints] == [0, 4, 8, 9]
    middle = full.checkpoints[1]
    # The interrupted run restarts from its step-4 checkpoint: weights, optimizer, scheduler, RNG.
    model = AutoModelForCausalLM.from_pretrained(middle.path)
    resumed = adapt(
        model, tokenizer, train, heldout, SETTINGS, tmp_path / "resumed", resume_from=middle.path, progress=False
    )
    assert [p.step for p in resumed.curve] == list(range(1, 10))
    torch.testing.assert_close([p.loss for p in resumed.curve], [p.loss for p in full.curve], rtol=1e-5, atol=1e-6)
    assert [p.learning_rate for p in resumed.curve] == pytest.approx([p.learning_rate for p in full.curve])
    assert resumed.tokens_seen == full.tokens_seen
    assert resumed.final.heldout_loss == pytest.approx(full.final.heldout_loss, rel=1e-5)


def test_checkpoints_record_held_out_loss_and_the_schedule_warms_up_then_decays(packed, tmp_path):
    tokenizer, train, heldout = packed
    result = adapt(_random_model(tokenizer), tokenizer, train, heldout, SETTINGS, tmp_path, progress=False)
    found = list_checkpoints(tmp_path)
    assert [c.step for c in found] == [0, 4, 8, 9]
    assert found[-1].heldout_loss < found[0].heldout_loss  # adaptation lowers the held-out LM loss
    assert read_checkpoint_info(found[1].path).tokens == result.curve[3].tokens
    rates = [p.learning_rate for p in result.curve]
    # transformers' warmup starts at 0: one warmup step (1% of 9, at least one), then the peak, then cosine.
    assert rates[0] == 0.0 and rates[1] == pytest.approx(3e-3)
    assert rates[1:] == sorted(rates[1:], reverse=True) and rates[-1] < 3e-4
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert summary["tokens_seen"] == result.tokens_seen
    assert summary["flops"] == pytest.approx(6 * result.parameters * result.tokens_seen)
    assert summary["fill_rate"] == train.fill_rate


def test_resume_with_different_settings_is_refused(packed, tmp_path):
    tokenizer, train, heldout = packed
    settings = AdaptSettings(context_length=64, batch_size=4, max_steps=2, checkpoint_every=1)
    first = adapt(_random_model(tokenizer), tokenizer, train, heldout, settings, tmp_path / "a", progress=False)
    other = AdaptSettings(context_length=64, batch_size=4, max_steps=3, checkpoint_every=1)
    with pytest.raises(ValueError, match="plans 2 steps but these settings plan 3"):
        adapt(
            _random_model(tokenizer),
            tokenizer,
            train,
            heldout,
            other,
            tmp_path / "b",
            resume_from=first.checkpoints[1].path,
            progress=False,
        )


def test_each_epoch_visits_every_sequence_once_in_a_seeded_order():
    per_epoch, total = plan_steps(10, AdaptSettings(batch_size=4, epochs=2, gradient_accumulation_steps=1))
    assert (per_epoch, total) == (3, 6)
    epoch = torch.cat([micro_batch_indices(i, n_sequences=10, per_epoch=3, batch_size=4, seed=0) for i in range(3)])
    assert sorted(epoch.tolist()) == list(range(10))
    second = torch.cat([micro_batch_indices(i, n_sequences=10, per_epoch=3, batch_size=4, seed=0) for i in range(3, 6)])
    assert second.tolist() != epoch.tolist()
    with pytest.raises(FileNotFoundError, match="no adaptation checkpoints"):
        list_checkpoints("/nonexistent-run")
