"""A bounded cache of each message's token ids, in front of the serving tokenizer.

An advocate's tool sends the whole conversation with every new message, and template replies
recur verbatim across cases. Each message is tokenized on its own
(:func:`abkit.text.window_token_ids`), so its ids depend only on its text, and a request pays
the tokenizer for its new messages only.
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
    """The :class:`abkit.text.transcript.Tokenizer` call, with the ids of recent texts kept.

    Misses are encoded in one call to ``inner``; beyond ``capacity`` texts (0: none) the least
    recently used is evicted, and texts of over ``max_cached_tokens`` are not kept. Ids are
    stored as 4-byte arrays, not lists of Python ints. A lock guards the entries (the service
    tokenizes on two threads), not the encoding of misses.
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
        with self._lock:  # one pass: look up, note the misses, refresh the hits' LRU place
            for index, item in enumerate(text):
                cached = entries.get(item)
                if cached is None:
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
