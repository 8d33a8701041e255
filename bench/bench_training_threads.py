"""Training step time of the tiny demo model with 1 torch thread against 2, in one run.

    .venv/bin/python bench/bench_training_threads.py [--steps 20]

Prints seconds per forward+backward step (batch 8 x 256 tokens, the tiny config's model)
for each thread count and the ratio. On a machine shared with other jobs, 2 threads wait
for each other; on an idle machine the ratio shows what the second core buys.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import GPTNeoXForCausalLM

from abkit.training.config import load_size_config
from abkit.training.tiny import tiny_gpt_neox_config


def seconds_per_step(model: torch.nn.Module, batch: torch.Tensor, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    model(input_ids=batch, labels=batch).loss.backward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        model(input_ids=batch, labels=batch).loss.backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    tiny = load_size_config("tiny").tiny_model
    torch.manual_seed(0)
    config = tiny_gpt_neox_config(
        tiny.vocab_size,
        hidden_size=tiny.hidden_size,
        num_hidden_layers=tiny.num_hidden_layers,
        num_attention_heads=tiny.num_attention_heads,
    )
    model = GPTNeoXForCausalLM(config)
    batch = torch.randint(5, tiny.vocab_size, (8, 256), generator=torch.Generator().manual_seed(0))
    # Alternate the two settings so that a change in machine load hits both alike.
    one, two = [], []
    for _ in range(3):
        one.append(seconds_per_step(model, batch, args.steps, 1))
        two.append(seconds_per_step(model, batch, args.steps, 2))
    best_one, best_two = min(one), min(two)
    print(f"1 thread : {best_one * 1000:8.1f} ms/step (best of 3)")
    print(f"2 threads: {best_two * 1000:8.1f} ms/step (best of 3)")
    print(f"ratio 2 threads / 1 thread: {best_two / best_one:.2f}")


if __name__ == "__main__":
    main()
