"""Request-to-tensor conversion, in one place: token id lists -> a right-padded batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TokenBatch:
    """A right-padded batch of token id sequences, on the CPU.

    Attributes:
        input_ids: ``[batch, longest]`` token ids, padded on the right with ``pad_token_id``.
        attention_mask: ``[batch, longest]``, 1 for real tokens and 0 for padding.
        lengths: ``[batch]`` number of real tokens of each sequence (the pooled position is
            ``lengths - 1``: the last non-padding token).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    lengths: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def padded_tokens(self) -> int:
        """Tokens the forward pass computes, padding included (what the token budget caps)."""
        return int(self.input_ids.numel())

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], pad_token_id: int) -> TokenBatch:
        """Pad ``sequences`` on the right to the longest one.

        Raises:
            ValueError: no sequences, or an empty sequence (naming its position).
        """
        if not sequences:
            raise ValueError("token batch: no sequences")
        for index, ids in enumerate(sequences):
            if len(ids) == 0:
                raise ValueError(f"token batch: sequence {index} is empty")
        longest = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(sequences), longest), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        lengths = torch.tensor([len(ids) for ids in sequences], dtype=torch.long)
        return cls(input_ids=input_ids, attention_mask=attention_mask, lengths=lengths)

    def to(self, device: torch.device | str) -> TokenBatch:
        """The same batch on ``device``.

        A plain copy: at most ``32 x 512`` ids (128 KiB), where pinning a staging buffer
        would cost more than the transfer it speeds up.
        """
        device = torch.device(device)
        if device.type == "cpu":
            return self
        return TokenBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.lengths)))
