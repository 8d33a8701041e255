"""bench_serving.py's inputs and bare scorer: random-init models of published shapes, request
bodies (each with a fresh newest message), and the bare forward-pass timings."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from abkit.loadtest.inputs import request_bodies
from abkit.serving.scorer import HFScorer
from abkit.text import parse_messages
from abkit.training.serving_dir import ServingMetadata, write_metadata
from abkit.training.tiny import tiny_gpt_neox_config, train_bpe_tokenizer

SHAPES = {
    "tiny": (64, 2, 4, 1024),
    "small": (256, 4, 4, 8192),
    "pythia-160m": (768, 12, 12, 50304),
    "pythia-410m": (1024, 24, 16, 50304),
    "pythia-1.4b": (2048, 24, 16, 50304),
}
N_TEMPLATES = 640


def build_model(directory: Path, shape: str, texts: list[str], dtype: torch.dtype) -> Path:
    """A random-init GPT-NeoX classifier of ``shape`` with a BPE tokenizer trained on ``texts``."""
    from transformers import GPTNeoXForSequenceClassification

    hidden, layers, heads, rows = SHAPES[shape]
    tokenizer = train_bpe_tokenizer(texts, vocab_size=min(rows, 8192))
    config = tiny_gpt_neox_config(
        max(rows, len(tokenizer)),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config.num_labels = N_TEMPLATES
    config.id2label = {i: f"T{i:04d}" for i in range(N_TEMPLATES)}
    config.label2id = {label: i for i, label in config.id2label.items()}
    torch.manual_seed(0)
    model = GPTNeoXForSequenceClassification(config).to(dtype).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    write_metadata(
        directory,
        ServingMetadata(
            model_version="bench",
            base_model=f"random-init {shape}",
            parameters=sum(p.numel() for p in model.parameters()),
        ),
    )
    return directory


def make_bodies(corpus: list[dict], scorer: HFScorer, n: int, input_tokens: int, seed: int) -> list[dict]:
    """``n`` suggest bodies: natural conversation cuts, or (``input_tokens`` > 0) conversations
    stitched from several cases until the window is full."""
    if input_tokens <= 0:
        source = request_bodies(corpus, seed=seed)
        return [next(source) for _ in range(n)]
    rnd = random.Random(seed)
    pool = [{"role": m["role"], "text": m["text"]} for case in corpus for m in case["messages"]]
    bodies = []
    for i in range(n):
        messages: list[dict] = []
        while len(scorer.encode(parse_messages(messages or [pool[0]]))) < input_tokens * 0.9 and len(messages) < 400:
            start = rnd.randrange(len(pool))
            messages.extend(pool[start : start + 8])
        bodies.append(
            {
                "case_id": f"bench-{i}",
                "message_id": f"bench-{i}-m",
                "advocate_id": f"adv-{i % 97}",
                "messages": messages,
            }
        )
    return bodies


# Every request's newest message is one the service has not seen, as in production, where an
# advocate's tool sends the conversation again with each new customer message: only the older
# messages may come from the service's token cache. The stamp is replaced in the payload bytes
# by the request's number, 8 digits wide, so that the payload's length stays the same.
STAMP = "@@@@@@@@"
_request_numbers = itertools.count()


def with_fresh_newest_message(body: dict) -> dict:
    """``body`` with a stamp at the end of its newest message (see :func:`stamped`)."""
    messages = [dict(m) for m in body["messages"]]
    messages[-1]["text"] = f"{messages[-1]['text']} (ref {STAMP})"
    return {**body, "messages": messages}


def stamped(payload: bytes, number: int | None = None) -> bytes:
    """``payload`` with its stamp replaced by ``number`` (the next request number by default)."""
    number = next(_request_numbers) if number is None else number
    return payload.replace(STAMP.encode(), b"%08d" % (number % 10**8), 1)


def stamped_body(body: dict, number: int) -> dict:
    return json.loads(stamped(json.dumps(body).encode(), number))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_latency_ms(scorer: HFScorer, sequences: list[list[int]], repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        ids = sequences[i % len(sequences)]
        sync(scorer.device)
        started = time.perf_counter()
        scorer.score([ids])  # returns host lists: includes the device sync
        times.append((time.perf_counter() - started) * 1000)
    return times


def bare_batches(sequences: list[list[int]], batch_size: int, seed: int = 0) -> Iterator[list[list[int]]]:
    """Batches of the length-sorted inputs, each batch once per pass in a shuffled order, endlessly.

    Every input is scored equally often, as the service's clients send every body equally
    often. All inputs are sorted at once, so these batches carry less padding than the
    service's, which can only group the requests queued at that moment.
    """
    ordered = sorted(sequences, key=len)
    batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    random.Random(seed).shuffle(batches)
    return itertools.cycle(batches)


def bare_throughput(scorer: HFScorer, batches: Iterator[list[list[int]]], seconds: float) -> tuple[int, float, int]:
    """(requests, seconds, padded tokens) of back-to-back batches from :func:`bare_batches`."""
    done, padded, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds or done == 0:
        batch = next(batches)
        scorer.score(batch)
        done += len(batch)
        padded += len(batch) * max(len(ids) for ids in batch)
    return done, time.perf_counter() - started, padded
