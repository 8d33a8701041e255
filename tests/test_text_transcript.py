"""abkit.text.window_token_ids: the classifier's input window, tokenized newest first in chunks."""

import random

import pytest

from abkit.text import Message, MessageError, window_token_ids
from abkit.text.transcript import FIRST_CHUNK, MESSAGE_SEPARATOR
from abkit.training.tiny import train_bpe_tokenizer

WORDS = [
    "my",
    "card",
    "was",
    "charged",
    "twice",
    "please",
    "refund",
    "the",
    "order",
    "parcel",
    "never",
    "arrived",
    "thanks",
    "a",
    "lot",
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 10, vocab_size=300)


class CountingTokenizer:
    """Passes calls through and counts the texts it was asked to encode."""

    def __init__(self, inner):
        self.inner, self.texts = inner, 0

    def __call__(self, texts, *, add_special_tokens=True):
        self.texts += len(texts)
        return self.inner(texts, add_special_tokens=add_special_tokens)


def reference_window(messages, tokenizer, max_tokens):
    """The window as the rule states it, from every message encoded at once (the former code)."""
    encoded = tokenizer([m.text for m in messages], add_special_tokens=False)["input_ids"]
    separator = tokenizer([MESSAGE_SEPARATOR], add_special_tokens=False)["input_ids"][0]
    if len(encoded[-1]) >= max_tokens:
        return list(encoded[-1][-max_tokens:])
    kept, used = [list(encoded[-1])], len(encoded[-1])
    for ids in reversed(encoded[:-1]):
        if used + len(ids) + len(separator) > max_tokens:
            break
        kept.append(list(ids))
        used += len(ids) + len(separator)
    window = []
    for index, ids in enumerate(reversed(kept)):
        window += separator if index else []
        window += ids
    return window


def conversation(rnd: random.Random, n_messages: int) -> list[Message]:
    return [
        Message(rnd.choice(("customer", "advocate")), " ".join(rnd.choices(WORDS, k=rnd.randint(1, 30))))
        for _ in range(n_messages)
    ]


def test_the_same_window_as_encoding_every_message(tokenizer):
    rnd = random.Random(7)
    for trial in range(300):
        messages = conversation(rnd, rnd.choice((1, 2, 7, 8, 9, 24, 25, 60, 200)))
        budget = rnd.choice((1, 5, 40, 128, 512, 4000))
        assert window_token_ids(messages, tokenizer, budget) == reference_window(messages, tokenizer, budget), trial


def test_a_long_conversation_tokenizes_about_its_window_not_its_length(tokenizer):
    messages = conversation(random.Random(3), 2000)
    counting = CountingTokenizer(tokenizer)
    window = window_token_ids(messages, counting, 512)
    assert window == reference_window(messages, tokenizer, 512)
    kept = window.count(tokenizer(["\n"], add_special_tokens=False)["input_ids"][0][0]) + 1
    # Chunks of 8, 16, 32...: at most twice the messages kept plus the first chunk, and the separator.
    assert counting.texts <= 2 * kept + FIRST_CHUNK + 1 < 2000


def test_an_empty_conversation_and_a_zero_budget_are_refused(tokenizer):
    with pytest.raises(MessageError, match="empty message list"):
        window_token_ids([], tokenizer)
    with pytest.raises(ValueError, match="max_tokens must be at least 1"):
        window_token_ids([Message("customer", "hi")], tokenizer, 0)
