from __future__ import annotations

import pytest
import torch
from transformers import GPTNeoXForCausalLM

from abkit.training.examples import EncodedExamples, LabelMap
from abkit.training.finetune import (
    LoopSettings,
    classifier_from_pretrained,
    ensure_pad_token,
    evaluate_classifier,
    train_classifier,
)
from abkit.training.tiny import tiny_gpt_neox_config, train_bpe_tokenizer
from tests.training_helpers import TINY

PAD = 1


def toy_data(n: int, seed: int) -> EncodedExamples:
    """Label k is signalled by token 10 + k somewhere in a row of noise tokens 20..59."""
    generator = torch.Generator().manual_seed(seed)
    rows, labels = [], []
    for _ in range(n):
        label = int(torch.randint(0, 4, (1,), generator=generator))
        noise = torch.randint(
            20, 60, (int(torch.randint(3, 9, (1,), generator=generator)),), generator=generator
        ).tolist()
        position = int(torch.randint(0, len(noise) + 1, (1,), generator=generator))
        rows.append(tuple(noise[:position] + [10 + label] + noise[position:]))
        labels.append(label)
    return EncodedExamples(tuple(rows), tuple(labels))


def toy_classifier(tmp_path):
    torch.manual_seed(0)
    config = tiny_gpt_neox_config(64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, pad_token_id=PAD)
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path / "lm")
    return classifier_from_pretrained(tmp_path / "lm", LabelMap(("A", "B", "C", "D")), PAD, seed=0)


def test_a_new_head_is_trained_and_beats_chance(tmp_path):
    model = toy_classifier(tmp_path)
    assert model.config.pad_token_id == PAD and model.config.id2label[3] == "D"
    train, test = toy_data(400, 0), toy_data(200, 1)
    before = evaluate_classifier(model, test, PAD, batch_size=64)
    result = train_classifier(model, train, PAD, LoopSettings(3e-3, 16, 3, 0.01), heldout=test, progress=False)
    after = evaluate_classifier(model, test, PAD, batch_size=64)
    assert len(result.curve) == 3 * 3 and len(result.epoch_metrics) == 3  # 25 steps an epoch: logged at 10, 20, 25
    assert result.tokens_seen == 3 * train.tokens
    assert after.loss < before.loss
    assert after.top1 > 0.5  # chance is 0.25


def test_keep_best_restores_the_epoch_with_the_lowest_held_out_loss(tmp_path):
    model = toy_classifier(tmp_path)
    train, test = toy_data(200, 0), toy_data(100, 1)
    # A learning rate high enough that later epochs can be worse than earlier ones.
    result = train_classifier(
        model, train, PAD, LoopSettings(2e-2, 16, 4, 0.0), heldout=test, keep_best=True, progress=False
    )
    losses = [m.loss for m in result.epoch_metrics]
    assert result.best_epoch == 1 + losses.index(min(losses))
    assert evaluate_classifier(model, test, PAD, batch_size=64).loss == pytest.approx(min(losses), rel=1e-5)


def test_ensure_pad_token_prefers_the_pythia_padding_token():
    tokenizer = train_bpe_tokenizer(["hello world"] * 5, vocab_size=300)
    tokenizer.pad_token = None
    assert ensure_pad_token(tokenizer) == tokenizer.convert_tokens_to_ids("<|padding|>")
    assert tokenizer.padding_side == "right"


def test_settings_come_from_the_size_config():
    loop = LoopSettings.from_finetune(TINY.finetune)
    assert (loop.learning_rate, loop.batch_size, loop.epochs) == (TINY.finetune.learning_rate, 16, 1)
