"""Tiny models built from scratch, for the demo and the tests (nothing is downloaded).

A byte-level BPE tokenizer trained on the given texts and a randomly initialised GPT-NeoX.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXForSequenceClassification, PreTrainedTokenizerFast

from abkit.text.transcript import SPEAKER_TAGS
from abkit.training.serving_dir import ServingMetadata, save_serving_dir

END_OF_TEXT = "<|endoftext|>"
PAD = "<|padding|>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (as Pythia's) trained on ``texts``, with EOS and pad tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, PAD, *SPEAKER_TAGS.values()],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=END_OF_TEXT,
        bos_token=END_OF_TEXT,
        unk_token=END_OF_TEXT,
        pad_token=PAD,
        padding_side="right",
    )


def tiny_gpt_neox_config(
    vocab_size: int,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    max_position_embeddings: int = 2048,
    pad_token_id: int | None = None,
    eos_token_id: int | None = None,
) -> GPTNeoXConfig:
    """A GPT-NeoX configuration small enough to train on two CPU cores in seconds."""
    return GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=eos_token_id,
        tie_word_embeddings=False,
    )


def build_random_classifier(
    out_dir: str | Path,
    texts: Sequence[str],
    template_ids: Sequence[str],
    *,
    model_version: str = "v1",
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 64,
) -> Path:
    """Write a servable directory holding a randomly initialised tiny classifier.

    Used by tests and benchmarks that need a real model of the right shape, not a good one.
    """
    torch.manual_seed(seed)
    tokenizer = train_bpe_tokenizer(texts, vocab_size=vocab_size)
    config = tiny_gpt_neox_config(
        len(tokenizer),
        hidden_size=hidden_size,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.num_labels = len(template_ids)
    config.id2label = {index: str(template) for index, template in enumerate(template_ids)}
    config.label2id = {str(template): index for index, template in enumerate(template_ids)}
    model = GPTNeoXForSequenceClassification(config).eval()
    return save_serving_dir(
        out_dir,
        model,
        tokenizer,
        ServingMetadata(
            model_version=model_version,
            base_model="random-init tiny GPT-NeoX",
            parameters=sum(p.numel() for p in model.parameters()),
        ),
    )


def build_random_causal_lm(
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> GPTNeoXForCausalLM:
    """A randomly initialised tiny GPT-NeoX causal LM for ``tokenizer`` (seeded, so reproducible)."""
    torch.manual_seed(seed)
    config = tiny_gpt_neox_config(
        len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return GPTNeoXForCausalLM(config)
