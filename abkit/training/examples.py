"""Labelled examples as classifier inputs: the template label map, token windows and batches."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from abkit.text.transcript import DEFAULT_MAX_TOKENS, window_token_ids
from abkit.training.corpus import CorpusError, LabelledExample


@dataclass(frozen=True)
class LabelMap:
    """Template ids in class-index order (``config.id2label`` of the classifier)."""

    template_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.template_ids:
            raise CorpusError("label map: no templates (the corpus has no labelled advocate messages)")
        if len(set(self.template_ids)) != len(self.template_ids):
            raise ValueError("label map: template ids are not unique")

    @classmethod
    def from_examples(cls, examples: Iterable[LabelledExample]) -> LabelMap:
        """Every template id seen, sorted, so the class order does not depend on file order."""
        return cls(tuple(sorted({example.template_id for example in examples})))

    @classmethod
    def from_id2label(cls, id2label: Mapping[Any, str]) -> LabelMap:
        """Read back a classifier config's ``id2label`` (keys may be strings after JSON)."""
        ordered = sorted(id2label.items(), key=lambda item: int(item[0]))
        if [int(key) for key, _ in ordered] != list(range(len(ordered))):
            raise ValueError("id2label: class indices must be 0..n-1")
        return cls(tuple(str(label) for _, label in ordered))

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.template_ids))

    @property
    def label2id(self) -> dict[str, int]:
        return {template: index for index, template in enumerate(self.template_ids)}

    def __len__(self) -> int:
        return len(self.template_ids)


@dataclass(frozen=True)
class EncodedExamples:
    """Token windows and class indices, one per labelled example."""

    input_ids: tuple[tuple[int, ...], ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def tokens(self) -> int:
        return sum(len(ids) for ids in self.input_ids)


def encode_examples(
    examples: Sequence[LabelledExample],
    tokenizer: Any,
    label_map: LabelMap,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    prefix_ids: Sequence[int] = (),
) -> EncodedExamples:
    """Window each example's conversation (no speaker tags, newest whole messages first).

    Args:
        prefix_ids: tokens put before every window (the encoder baseline's first-token
            pooling position); the window shrinks by as many tokens.

    Raises:
        CorpusError: no examples, or a template id that is not in the label map, naming the
            case and message.
    """
    if not examples:
        raise CorpusError("no labelled examples (advocate messages with a template_id)")
    index = label_map.label2id
    windows, labels = [], []
    for example in examples:
        if example.template_id not in index:
            raise CorpusError(
                f"case {example.case_id!r} message {example.message_id!r}: template_id {example.template_id!r} "
                f"is not in the model's label map ({len(label_map)} templates)"
            )
        window = window_token_ids(example.context, tokenizer, max_tokens - len(prefix_ids))
        windows.append((*prefix_ids, *window))
        labels.append(index[example.template_id])
    return EncodedExamples(tuple(windows), tuple(labels))


@dataclass(frozen=True)
class Batch:
    """Right-padded inputs: the classifier pools the last non-padding token of each row."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))

    def rows(self, index: torch.Tensor) -> Batch:
        """The chosen rows (one process's share of the batch), same width."""
        return Batch(self.input_ids[index], self.attention_mask[index], self.labels[index])


def collate(windows: Sequence[Sequence[int]], labels: Sequence[int], pad_token_id: int) -> Batch:
    """Right-pad windows to the longest in the batch."""
    width = max(len(ids) for ids in windows)
    input_ids = torch.full((len(windows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(windows), width), dtype=torch.long)
    for row, ids in enumerate(windows):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
    return Batch(input_ids, attention_mask, torch.tensor(labels, dtype=torch.long))


def iterate_batches(
    encoded: EncodedExamples,
    batch_size: int,
    pad_token_id: int,
    *,
    generator: torch.Generator | None = None,
) -> Iterator[Batch]:
    """Batches in a seeded random order (training) or by length (evaluation, less padding)."""
    if generator is not None:
        order = torch.randperm(len(encoded), generator=generator).tolist()
    else:
        order = sorted(range(len(encoded)), key=lambda i: len(encoded.input_ids[i]))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        yield collate([encoded.input_ids[i] for i in chosen], [encoded.labels[i] for i in chosen], pad_token_id)
