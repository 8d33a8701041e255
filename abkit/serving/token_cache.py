"""A bounded cache of each message's token ids, in front of the serving tokenizer.

An advocate's tool sends the whole conversation with every new customer message, and
template replies recur verbatim across cases. Each message is tokenized on its own
(:func:`abkit.text.window_token_ids`), so its ids depend only on its text: a cache keyed by
text gives the ids a fresh encoding gives, and a request pays the tokenizer for its new
messages only.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from abkit.text.transcript import Tokenizer

DEFAULT_CACHE_MESSAGES = 50_000
# Longer messages are encoded each time: one such text would hold a cache slot with kilobytes
# of ids, and a window takes at most its last 512 tokens anyway.
MAX_CACHED_TOKENS = 1024


class CachingTokenizer:
    """``tokenizer(texts, add_special_tokens=...)`` with the ids of recent texts kept.

    Implements the :class:`abkit.text.transcript.Tokenizer` call that
    :func:`~abkit.text.window_token_ids` makes. Misses are encoded in one call to ``inner``;
    the least recently used entry is evicted beyond ``capacity`` texts. Ids are stored as
    4-byte arrays (about 4 bytes a token plus the text), not as lists of Python ints.
    Thread-safe: the service tokenizes on two threads (ordinary and very large requests); a
    lock guards the entries, not the encoding of misses.

    Args:
        inner: the tokenizer to call on misses.
        capacity: texts kept (0 keeps none: every call goes to ``inner``).
        max_cached_tokens: texts with more tokens are not kept.
    """

    def __init__(
        self, inner: Tokenizer, capacity: int = DEFAULT_CACHE_MESSAGES, max_cached_tokens: int = MAX_CACHED_TOKENS
    ):
        if capacity < 0:
            raise ValueError(f"token cache capacity must not be negative, got {capacity}")
        self.inner = inner
        self.capacity = capacity
        self.max_cached_tokens = max_cached_tokens
        # One cache per add_special_tokens value: the same text encodes differently with them.
        self._entries: dict[bool, OrderedDict[str, array]] = {False: OrderedDict(), True: OrderedDict()}
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._entries.values())

    def __call__(self, text: list[str], *, add_special_tokens: bool = True) -> dict[str, list[Any]]:
        entries = self._entries[bool(add_special_tokens)]
        ids: list[Sequence[int] | None] = []
        missing: list[int] = []
        with self._lock:
            for index, item in enumerate(text):
                cached = entries.get(item)
                if cached is None:
                    ids.append(None)
                    missing.append(index)
                else:
                    entries.move_to_end(item)
                    ids.append(cached)
            self.hits += len(text) - len(missing)
            self.misses += len(missing)
        if missing:
            encoded = self.inner([text[i] for i in missing], add_special_tokens=add_special_tokens)["input_ids"]
            with self._lock:
                for index, new_ids in zip(missing, encoded, strict=True):
                    ids[index] = new_ids
                    if self.capacity and len(new_ids) <= self.max_cached_tokens:
                        entries[text[index]] = array("i", new_ids)
                        if len(entries) > self.capacity:
                            entries.popitem(last=False)
        return {"input_ids": ids}
