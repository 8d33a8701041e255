"""The model interface and its Hugging Face implementation (softmax and top-k on the model's device)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import product
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.nn.utils.rnn import pad_sequence

from abkit.events.columns import TOP_K
from abkit.serving.token_cache import DEFAULT_CACHE_MESSAGES, CachingTokenizer
from abkit.text import Message, window_token_ids
from abkit.training.serving_dir import check_serving_dir, read_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopK:
    """The top-k templates for one input, best first: their ids and softmax probabilities."""

    template_ids: tuple[str, ...]
    scores: tuple[float, ...]


class Scorer(Protocol):
    """What the batcher and the service need from a model."""

    model_version: str
    max_tokens: int

    def encode(self, messages: Sequence[Message]) -> list[int]: ...  # the classifier input, windowed as in training

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]: ...  # in input order


@dataclass(frozen=True)
class ModelSlot:
    """A model to serve: its version (known before loading) and how to load it."""

    model_version: str
    load: Callable[[], Scorer]


@dataclass(frozen=True)
class TokenBatch:
    """Token id sequences right-padded to the longest, on the CPU; ``lengths - 1`` is each one's last real token."""

    input_ids: torch.Tensor  # [batch, longest]
    attention_mask: torch.Tensor  # [batch, longest]: 1 for real tokens, 0 for padding
    lengths: torch.Tensor  # [batch]

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], pad_token_id: int) -> TokenBatch:
        """Raises ValueError for no sequences or an empty one (naming its position)."""
        if not sequences:
            raise ValueError("token batch: no sequences")
        for index, ids in enumerate(sequences):
            if len(ids) == 0:
                raise ValueError(f"token batch: sequence {index} is empty")
        lengths = torch.tensor([len(ids) for ids in sequences], dtype=torch.long)
        rows = [torch.as_tensor(ids, dtype=torch.long) for ids in sequences]
        input_ids = pad_sequence(rows, batch_first=True, padding_value=pad_token_id)
        attention_mask = (torch.arange(input_ids.shape[1]) < lengths[:, None]).long()
        return cls(input_ids=input_ids, attention_mask=attention_mask, lengths=lengths)

    def to(self, device: torch.device | str) -> TokenBatch:
        # A plain copy: at most 32 x 512 ids, where pinning a staging buffer costs more than it saves.
        if torch.device(device).type == "cpu":
            return self
        return TokenBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.lengths)))


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without a GPU is an error, not a fallback."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    parsed = torch.device(device)
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine")
    return parsed


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on GPUs that support it, else float16 on CUDA; float32 on CPU."""
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    choices = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in choices:
        raise ValueError(f"dtype {dtype!r}: expected auto or one of {sorted(choices)}")
    return choices[dtype]


class HFScorer:
    """A Hugging Face sequence classifier loaded once from an abkit serving directory.

    Decoders with a ``score`` head (GPT-NeoX/Pythia) are pooled at the last non-padding token,
    found from the lengths, and only that position goes through the head; encoders (BERT-style)
    use their own pooling with the attention mask. Either way padding does not change scores.

    Args:
        directory: ``save_pretrained`` output plus ``abkit_model.json``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: ``auto`` (bf16/fp16 on CUDA, float32 on CPU), ``float32``, ``float16``, ``bfloat16``.
        token_cache_messages: messages whose token ids are kept (:class:`CachingTokenizer`; 0: none).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        top_k: int = TOP_K,
        token_cache_messages: int = DEFAULT_CACHE_MESSAGES,
    ):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.directory = Path(directory)
        metadata = read_metadata(self.directory)
        self.model_version = metadata.model_version
        self.max_tokens = metadata.max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(self.directory)
        self.token_cache = CachingTokenizer(self.tokenizer, token_cache_messages)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        model = AutoModelForSequenceClassification.from_pretrained(self.directory, dtype=self.dtype)
        self.model = model.to(self.device).eval()
        id2label = self.model.config.id2label
        self.labels = [str(id2label[index]) for index in range(len(id2label))]
        if not self.labels:
            raise ValueError(f"{directory}: config.id2label is empty")
        self.top_k = min(top_k, len(self.labels))
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))
        self._decoder_head = getattr(self.model, "score", None) if hasattr(self.model, "base_model") else None
        self.parameters = sum(p.numel() for p in self.model.parameters())
        # A causal decoder's real tokens attend only to those before them, and right padding comes
        # after, so the pooled states are the same without the mask, and SDPA runs its causal kernel
        # instead of applying a [batch, 1, length, length] mask. Checked on this model, not assumed.
        self.mask_free = self._decoder_head is not None and self._padding_is_invisible()
        log.debug(
            "%s: forward passes %s the attention mask", self.model_version, "without" if self.mask_free else "with"
        )

    def encode(self, messages: Sequence[Message]) -> list[int]:
        """The most recent whole messages that fit the model's token budget (see :func:`window_token_ids`)."""
        return window_token_ids(messages, self.token_cache, self.max_tokens)

    def batch(self, sequences: Sequence[Sequence[int]]) -> TokenBatch:
        return TokenBatch.from_sequences(sequences, self.pad_token_id)

    @torch.inference_mode()
    def _pooled_states(self, batch: TokenBatch, *, masked: bool) -> torch.Tensor:
        """A decoder's hidden states at each sequence's last real token, ``[batch, hidden]``."""
        mask = batch.attention_mask if masked else None
        hidden = self.model.base_model(input_ids=batch.input_ids, attention_mask=mask)[0]
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), batch.lengths - 1]

    def _padding_is_invisible(self) -> bool:
        """Whether a right-padded batch pools the same states with and without the attention mask."""
        vocabulary = int(self.model.config.vocab_size)
        ids = [token % vocabulary for token in range(3, 35) if token % vocabulary != self.pad_token_id]
        batch = self.batch([ids, ids[:5], ids[7:19]]).to(self.device)
        masked, unmasked = (self._pooled_states(batch, masked=m).float() for m in (True, False))
        # Half-precision kernels round differently; a mask that matters changes states far more.
        tolerance = 1e-4 if self.dtype == torch.float32 else 2e-2
        return bool(torch.allclose(masked, unmasked, rtol=tolerance, atol=tolerance * float(masked.abs().max())))

    @torch.inference_mode()
    def logits(self, batch: TokenBatch) -> torch.Tensor:
        """Pooled class logits ``[batch, labels]`` on the model's device."""
        batch = batch.to(self.device)
        if self._decoder_head is not None:
            return self._decoder_head(self._pooled_states(batch, masked=not self.mask_free))
        return self.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits

    @torch.inference_mode()
    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        # Softmax in float32 whatever the model dtype, then top-k, all on the device: only [batch, k] numbers come back.
        probabilities = torch.softmax(self.logits(self.batch(sequences)).float(), dim=-1)
        values, indices = torch.topk(probabilities, self.top_k, dim=-1)
        top_scores, top_indices = values.cpu().tolist(), indices.cpu().tolist()  # waits for the device
        return [
            TopK(tuple(self.labels[i] for i in row_i), tuple(row_v))
            for row_i, row_v in zip(top_indices, top_scores, strict=True)
        ]

    def warm_up(self, batch_sizes: Sequence[int] = (1, 8), lengths: Sequence[int] = (16, 512)) -> None:
        """Run a few shapes once so that the first request pays no lazy set-up (on the CPU, one small pass)."""
        if self.device.type != "cuda":
            batch_sizes, lengths = (1,), (16,)
        token = 1 if self.pad_token_id == 0 else 0
        for size, length in product(batch_sizes, lengths):
            self.score([[token] * min(length, self.max_tokens)] * size)  # returns once the device is done


def hf_model_slot(directory: str | Path, **options: Any) -> ModelSlot:
    """A :class:`ModelSlot` loading ``HFScorer(directory, **options)``; the directory is checked and its
    version read without loading the weights, so a broken one is refused at start-up."""
    return ModelSlot(check_serving_dir(directory).model_version, partial(HFScorer, directory, **options))
