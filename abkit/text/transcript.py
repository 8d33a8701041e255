"""Transcripts and the classifier's input window, in one place for training and serving.

Domain adaptation reads whole transcripts with speaker annotations (``<CUSTOMER> ...``);
the classifier reads the most recent whole messages without annotations, newest first, up
to 512 tokens (DESIGN.md, "The real system this follows").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from abkit.text.checks import has_utf8_form

Role = Literal["customer", "system", "advocate"]
ROLES: tuple[Role, ...] = ("customer", "system", "advocate")
SPEAKER_TAGS: dict[str, str] = {"customer": "<CUSTOMER>", "system": "<SYSTEM>", "advocate": "<ADVOCATE>"}
MESSAGE_SEPARATOR = "\n"
DEFAULT_MAX_TOKENS = 512


class MessageError(ValueError):
    """A message list that cannot be used, naming the message and the problem."""


@dataclass(frozen=True)
class Message:
    """One message of a support conversation."""

    role: Role
    text: str


class Tokenizer(Protocol):
    def __call__(self, text: list[str], *, add_special_tokens: bool = ...) -> Any: ...


def parse_messages(raw: Iterable[Mapping[str, Any]], *, where: str = "messages") -> list[Message]:
    """Validate ``[{"role": ..., "text": ...}, ...]`` into messages.

    Raises:
        MessageError: empty list, unknown role, or missing/empty text, naming the message.
    """
    messages = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise MessageError(f"{where}[{index}]: must be an object with role and text")
        role, text = item.get("role"), item.get("text")
        if role not in ROLES:
            raise MessageError(f"{where}[{index}].role: unknown role {role!r}; expected one of {list(ROLES)}")
        if not isinstance(text, str) or not text.strip():
            raise MessageError(f"{where}[{index}].text: missing or empty")
        if not has_utf8_form(text):
            raise MessageError(f"{where}[{index}].text: not valid Unicode (a lone surrogate such as \\ud800)")
        messages.append(Message(role=role, text=text))
    if not messages:
        raise MessageError(f"{where}: empty message list")
    return messages


def format_for_adaptation(messages: Sequence[Message]) -> str:
    """A transcript for causal-LM domain adaptation: speaker-tagged messages, one per line."""
    return MESSAGE_SEPARATOR.join(f"{SPEAKER_TAGS[m.role]} {m.text}" for m in messages)


FIRST_CHUNK = 8  # messages encoded in the first tokenizer call; each later call doubles it


def window_token_ids(
    messages: Sequence[Message],
    tokenizer: Tokenizer,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> list[int]:
    """Token ids of the classifier input: the most recent whole messages that fit.

    Messages are taken newest first while they fit in ``max_tokens`` (earliest-first
    truncation), separated by a newline, with no speaker annotation, and returned in
    chronological order. If the newest message alone is longer than ``max_tokens``, its last
    ``max_tokens`` tokens are kept.

    Messages are tokenized newest first, in chunks that double (8, 16, 32...), until the window
    is full, so a long conversation costs about its window rather than its length (each message
    is tokenized on its own, so the ids are those of encoding every message).
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not messages:
        raise MessageError("messages: empty message list")
    texts = [m.text for m in messages]
    separator = tokenizer([MESSAGE_SEPARATOR], add_special_tokens=False)["input_ids"][0]
    kept: list[list[int]] = []  # newest first
    used = 0
    end, chunk = len(texts), FIRST_CHUNK
    while end > 0:  # texts[:end] are not tokenized yet
        start = max(0, end - chunk)
        for ids in reversed(tokenizer(texts[start:end], add_special_tokens=False)["input_ids"]):
            if not kept and len(ids) >= max_tokens:  # the newest message alone fills the window
                return list(ids[-max_tokens:])
            cost = len(ids) + (len(separator) if kept else 0)
            if used + cost > max_tokens:
                return _join(kept, separator)
            kept.append(list(ids))
            used += cost
        end, chunk = start, chunk * 2
    return _join(kept, separator)


def _join(newest_first: list[list[int]], separator: Sequence[int]) -> list[int]:
    window: list[int] = []
    for index, ids in enumerate(reversed(newest_first)):
        if index:
            window.extend(separator)
        window.extend(ids)
    return window
