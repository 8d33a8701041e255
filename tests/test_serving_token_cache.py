"""CachingTokenizer: the ids of a fresh encoding, the tokenizer called for new texts only."""

import random

import pytest

from abkit.serving.scorer import HFScorer
from abkit.serving.token_cache import CachingTokenizer
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import Message, window_token_ids
from abkit.training.tiny import build_random_classifier


@pytest.fixture(scope="module")
def corpus():
    return generate_transcripts(seed=5, n_cases=60, n_templates=40)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus):
    texts = [m["text"] for case in corpus for m in case["messages"]]
    return build_random_classifier(tmp_path_factory.mktemp("model"), texts, [f"T{i}" for i in range(40)], seed=2)


@pytest.fixture(scope="module")
def backend(model_dir):
    return HFScorer(model_dir, device="cpu", token_cache_messages=0).tokenizer


class Counting:
    """Wraps a tokenizer and records every text it is asked to encode."""

    def __init__(self, inner):
        self.inner = inner
        self.texts: list[str] = []

    def __call__(self, text, *, add_special_tokens=True):
        self.texts.extend(text)
        return self.inner(text, add_special_tokens=add_special_tokens)


def conversation_prefixes(corpus):
    """What an advocate's tool sends: each case's conversation, one message longer each time."""
    for case in corpus:
        messages = [Message(m["role"], m["text"]) for m in case["messages"]]
        for end in range(1, len(messages) + 1):
            yield messages[:end]


def test_windows_are_those_of_the_uncached_tokenizer(corpus, backend):
    # Growing conversations, with a small cache so that evictions happen too, and a 40-token
    # budget so that windows are cut (the expected ids come from the tokenizer without a cache).
    cached = CachingTokenizer(backend, capacity=25)
    requests = list(conversation_prefixes(corpus))
    random.Random(0).shuffle(requests)
    for messages in requests[:600]:
        for budget in (40, 512):
            assert window_token_ids(messages, cached, budget) == window_token_ids(messages, backend, budget)
    assert len(cached) <= 25 * 2
    assert cached.hits > 0 and cached.misses > 0


def test_a_growing_conversation_encodes_each_message_once(corpus, backend):
    counting = Counting(backend)
    cached = CachingTokenizer(counting, capacity=1000)
    case = next(c for c in corpus if len(c["messages"]) >= 6)
    prefixes = [p for p in conversation_prefixes([case])]
    for messages in prefixes:
        window_token_ids(messages, cached, 512)
    texts = [m["text"] for m in case["messages"]]
    # Each message once, plus the separator once: the first request encodes "\n" and message 1.
    assert sorted(counting.texts) == sorted({*texts, "\n"})
    # Request k finds its k-1 older messages and the separator cached (none for the first request).
    n = len(prefixes)
    assert cached.misses == len(set(texts)) + 1
    assert cached.hits == sum(range(n)) + (n - 1) - (len(texts) - len(set(texts)))


def test_least_recently_used_text_is_evicted(backend):
    counting = Counting(backend)
    cached = CachingTokenizer(counting, capacity=2)
    cached(["alpha"], add_special_tokens=False)
    cached(["beta"], add_special_tokens=False)
    cached(["alpha"], add_special_tokens=False)  # alpha is now the most recent
    cached(["gamma"], add_special_tokens=False)  # evicts beta
    counting.texts.clear()
    cached(["alpha", "gamma", "beta"], add_special_tokens=False)
    assert counting.texts == ["beta"]
    assert len(cached) == 2


def test_special_tokens_setting_is_part_of_the_key(backend):
    class Marking:
        """Adds a marker id when asked for special tokens, so the two settings give different ids."""

        def __call__(self, text, *, add_special_tokens=True):
            ids = backend(text, add_special_tokens=False)["input_ids"]
            return {"input_ids": [[*i, 99999] if add_special_tokens else i for i in ids]}

    cached = CachingTokenizer(Marking(), capacity=10)
    plain = cached(["hello there"], add_special_tokens=False)["input_ids"][0]
    special = cached(["hello there"], add_special_tokens=True)["input_ids"][0]
    assert list(special) == [*plain, 99999]
    assert list(cached(["hello there"], add_special_tokens=False)["input_ids"][0]) == list(plain)


def test_long_texts_and_a_zero_capacity_are_not_kept(backend):
    long_text = " ".join(["refund"] * 400)
    counting = Counting(backend)
    cached = CachingTokenizer(counting, capacity=10, max_cached_tokens=50)
    first = cached([long_text, "short"], add_special_tokens=False)["input_ids"]
    assert len(first[0]) > 50
    again = cached([long_text, "short"], add_special_tokens=False)["input_ids"]
    assert [list(i) for i in again] == [list(i) for i in first]
    assert counting.texts == [long_text, "short", long_text]
    off = CachingTokenizer(counting, capacity=0)
    off(["short"], add_special_tokens=False)
    off(["short"], add_special_tokens=False)
    assert len(off) == 0 and off.misses == 2


def test_negative_capacity_is_refused(backend):
    with pytest.raises(ValueError, match="must not be negative"):
        CachingTokenizer(backend, capacity=-1)


def test_scorer_encodes_through_the_cache(model_dir, corpus):
    scorer = HFScorer(model_dir, device="cpu", token_cache_messages=100)
    messages = next(conversation_prefixes(corpus[3:]))
    first = scorer.encode(messages)
    assert scorer.encode(messages) == first
    assert scorer.token_cache.hits >= 1
    assert HFScorer(model_dir, device="cpu", token_cache_messages=0).encode(messages) == first
