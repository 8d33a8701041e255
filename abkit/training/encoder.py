"""The encoder baseline: a small BERT-style classifier, random init, same tokenizer and window.

BERT pools its first position, so every window starts with the tokenizer's beginning-of-text
token (Pythia-style tokenizers use the end-of-text token for it) and is one token shorter.
It trains for several epochs; the epoch with the lowest held-out loss is kept and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import BertConfig, BertForSequenceClassification

from abkit.training.config import EncoderSettings
from abkit.training.corpus import LabelledExample
from abkit.training.examples import LabelMap, encode_examples
from abkit.training.finetune import FinetuneResult, LoopSettings, evaluate_classifier, train_classifier
from abkit.training.metrics import ClassificationMetrics
from abkit.training.optim import Runtime


@dataclass(frozen=True)
class EncoderBaseline:
    """The baseline's held-out metrics at its best epoch, and its training record."""

    metrics: ClassificationMetrics
    training: FinetuneResult
    parameters: int


def build_encoder(
    tokenizer: Any, settings: EncoderSettings, label_map: LabelMap, max_tokens: int
) -> BertForSequenceClassification:
    """A random-init BERT classifier over the given tokenizer's vocabulary."""
    torch.manual_seed(settings.seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        intermediate_size=4 * settings.hidden_size,
        max_position_embeddings=max_tokens,
        pad_token_id=tokenizer.pad_token_id,
        id2label=label_map.id2label,  # sets num_labels too
        label2id=label_map.label2id,
    )
    return BertForSequenceClassification(config)


def train_encoder_baseline(
    tokenizer: Any,
    train_examples: Sequence[LabelledExample],
    test_examples: Sequence[LabelledExample],
    label_map: LabelMap,
    settings: EncoderSettings,
    *,
    max_tokens: int = 512,
    runtime: Runtime | None = None,
    progress: bool = True,
) -> EncoderBaseline:
    """Train the baseline on one half and report its best epoch on the other."""
    first = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    train = encode_examples(train_examples, tokenizer, label_map, max_tokens=max_tokens, prefix_ids=(first,))
    test = encode_examples(test_examples, tokenizer, label_map, max_tokens=max_tokens, prefix_ids=(first,))
    model = build_encoder(tokenizer, settings, label_map, max_tokens)
    loop = LoopSettings(
        settings.learning_rate, settings.batch_size, settings.epochs, settings.weight_decay, seed=settings.seed
    )
    result = train_classifier(
        model,
        train,
        tokenizer.pad_token_id,
        loop,
        heldout=test,
        keep_best=True,
        runtime=runtime,
        progress=progress,
        desc="encoder",
    )
    metrics = (
        result.epoch_metrics[result.best_epoch - 1]
        if result.epoch_metrics
        else evaluate_classifier(model, test, tokenizer.pad_token_id, runtime=runtime)
    )
    return EncoderBaseline(metrics, result, sum(p.numel() for p in model.parameters()))
