"""Benchmark: TokenBatch.from_sequences (torch's pad_sequence) against the row-by-row copy it replaced.

Pads the same batches (32 sequences, 1 to 512 token ids: the default batch cap and window)
both ways, alternating, checks that they give the same tensors, and prints the best time per
batch of each and the ratio.

    .venv/bin/python bench/bench_token_batch.py [--repeats 5 --number 200]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from abkit.serving.scorer import TokenBatch  # noqa: E402


def row_by_row(sequences: Sequence[Sequence[int]], pad_token_id: int) -> torch.Tensor:
    """The padding TokenBatch did before: a filled tensor, one slice assignment per row."""
    lengths = torch.tensor([len(ids) for ids in sequences], dtype=torch.long)
    input_ids = torch.full((len(sequences), int(lengths.max())), pad_token_id, dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
    return input_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--number", type=int, default=200, help="batches padded per timing")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sequences = [list(range(1, (i * 16) % 512 + 2)) for i in range(32)]
    assert torch.equal(row_by_row(sequences, 0), TokenBatch.from_sequences(sequences, 0).input_ids)
    best = {"row_by_row": float("inf"), "pad_sequence": float("inf")}
    for _ in range(args.repeats):  # alternating, so that drift in the machine's load hits both
        for name, pad in (
            ("row_by_row", lambda: row_by_row(sequences, 0)),
            ("pad_sequence", lambda: TokenBatch.from_sequences(sequences, 0)),
        ):
            best[name] = min(best[name], timeit.timeit(pad, number=args.number) / args.number)
    for name, seconds in best.items():
        print(f"{name:>12}: {seconds * 1e6:8.1f} us per batch of {len(sequences)}")
    print(f"ratio (row_by_row / pad_sequence): {best['row_by_row'] / best['pad_sequence']:.2f}x")


if __name__ == "__main__":
    main()
