"""Packing documents into full-length sequences for causal-LM training.

Documents are concatenated, each followed by the end-of-text token, and the stream is cut
into sequences of exactly ``context_length`` tokens (documents may continue into the next
sequence, as in GPT-NeoX/Pythia pretraining). Only the last sequence can be short; it is
padded and its padding is masked out of the loss, so the waste is below one sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PackedCorpus:
    """Packed sequences and how full they are.

    Attributes:
        input_ids: ``(n_sequences, context_length)`` token ids, padding in the last row only.
        attention_mask: 1 for real tokens, 0 for padding.
        documents: number of documents packed.
        tokens: real tokens (including end-of-text separators).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    documents: int
    tokens: int

    @property
    def fill_rate(self) -> float:
        """Real tokens over token slots (1.0 means no padding at all)."""
        return self.tokens / self.input_ids.numel() if self.input_ids.numel() else 0.0

    @property
    def n_sequences(self) -> int:
        return int(self.input_ids.shape[0])

    def labels(self) -> torch.Tensor:
        """Causal-LM labels: the inputs, with padding set to -100 (ignored by the loss)."""
        return self.input_ids.masked_fill(self.attention_mask == 0, -100)


def pack_documents(
    documents: Iterable[Sequence[int]],
    *,
    context_length: int,
    eos_token_id: int,
    pad_token_id: int,
) -> PackedCorpus:
    """Concatenate token-id documents with end-of-text separators and cut full sequences.

    Raises:
        ValueError: a context length below 2, or no tokens at all.
    """
    if context_length < 2:
        raise ValueError(f"context_length must be at least 2, got {context_length}")
    stream: list[int] = []
    count = 0
    for ids in documents:
        stream.extend(ids)
        stream.append(eos_token_id)
        count += 1
    if not stream:
        raise ValueError("nothing to pack: no documents")
    n_sequences = -(-len(stream) // context_length)  # ceiling division
    padding = n_sequences * context_length - len(stream)
    flat = torch.tensor(stream + [pad_token_id] * padding, dtype=torch.long)
    mask = torch.ones(n_sequences * context_length, dtype=torch.long)
    if padding:
        mask[-padding:] = 0
    return PackedCorpus(
        input_ids=flat.view(n_sequences, context_length),
        attention_mask=mask.view(n_sequences, context_length),
        documents=count,
        tokens=len(stream),
    )
