"""Shared pieces of the training tests: a tiny configuration and small corpora."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from abkit.training.config import AdaptSettings, EncoderSettings, FinetuneSettings, SizeConfig, TinyModelSettings

# One thread: the CI machine is shared and small matrix products slow down with more.
torch.set_num_threads(1)

TINY = SizeConfig(
    name="test-tiny",
    tiny_model=TinyModelSettings(vocab_size=400, hidden_size=32, num_hidden_layers=1, num_attention_heads=2),
    adapt=AdaptSettings(
        context_length=64, learning_rate=3e-3, batch_size=8, epochs=1, checkpoint_every=4, heldout_fraction=0.1
    ),
    finetune=FinetuneSettings(max_tokens=64, learning_rate=3e-3, batch_size=16),
    encoder=EncoderSettings(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, epochs=3, batch_size=16),
)


def with_settings(config: SizeConfig, **sections: dict[str, Any]) -> SizeConfig:
    """``config`` with some settings of some sections replaced."""
    return dataclasses.replace(
        config, **{name: dataclasses.replace(getattr(config, name), **values) for name, values in sections.items()}
    )


def record(case_id: str, *messages: tuple[str, str, str | None]) -> dict[str, Any]:
    """A corpus record from (role, text, template_id) triples."""
    return {
        "case_id": case_id,
        "messages": [
            {"message_id": f"{case_id}-m{i}", "role": role, "text": text, "template_id": template}
            for i, (role, text, template) in enumerate(messages)
        ],
    }


# The [tiny_model] table of the TOML size configs that the command-line tests write.
TINY_MODEL_TOML = """
[tiny_model]
vocab_size = 300
hidden_size = 32
num_hidden_layers = 1
num_attention_heads = 2
"""
