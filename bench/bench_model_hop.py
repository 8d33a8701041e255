"""The round trip to a model process: awaited on the event loop vs through a worker thread.

    .venv/bin/python bench/bench_model_hop.py [--shape tiny] [--rounds 5] [--calls 200]

Two model processes (``ProcessScorer``) of the same random-init model, in one run, called
from an event loop one batch of one request at a time, as the service calls them at low load:

- loop: ``await scorer.score_async(batch)``, the service's path since 2861185: the batch is
  written from the loop, and the child's reply wakes the loop;
- thread: ``await loop.run_in_executor(worker, scorer.score, batch)``, the path before it: a
  worker thread writes the batch and waits for the reply, then wakes the loop.

Each round times both, in turn, ``--calls`` times, with ``--gap-ms`` of idling between
calls (the client's and the web layer's share of a request). Printed: the medians, their
difference and ratio, and the bare forward pass in this process for reference, back to back
and with the same idling before each call (a CPU that idled runs the next pass slower).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import SHAPES, build_model, make_bodies  # noqa: E402

from abkit.serving.model_process import ProcessScorer  # noqa: E402
from abkit.serving.scorer import HFScorer  # noqa: E402
from abkit.simulate.transcripts import generate_transcripts  # noqa: E402
from abkit.text import parse_messages  # noqa: E402


async def round_trips(
    scorers: dict[str, ProcessScorer], sequences: list[list[int]], calls: int, gap_s: float
) -> dict[str, list[float]]:
    loop = asyncio.get_running_loop()
    times: dict[str, list[float]] = {name: [] for name in scorers}
    with ThreadPoolExecutor(1, thread_name_prefix="bench-worker") as worker:
        for name, scorer in scorers.items():
            for call in range(calls):
                batch = [sequences[call % len(sequences)]]
                await asyncio.sleep(gap_s)
                started = time.perf_counter()
                if name == "loop":
                    await scorer.score_async(batch)
                else:
                    await loop.run_in_executor(worker, scorer.score, batch)
                times[name].append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    parser.add_argument("--input-tokens", type=int, default=0, help="0: natural conversation cuts")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="per path per round")
    parser.add_argument("--gap-ms", type=float, default=2.0, help="idling before each call")
    args = parser.parse_args()

    torch.set_num_threads(1)
    corpus = generate_transcripts(0, 400, 640)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    with tempfile.TemporaryDirectory(prefix="abkit-hop-") as tmp:
        model_dir = build_model(Path(tmp, "model"), args.shape, texts, torch.float32)
        bare = HFScorer(model_dir, device="cpu", token_cache_messages=0)
        bare.warm_up()
        bodies = make_bodies(corpus, bare, 64, args.input_tokens, 1)
        sequences = [bare.encode(parse_messages(body["messages"])) for body in bodies]
        scorers = {name: ProcessScorer(model_dir, device="cpu", cpu_threads=1) for name in ("loop", "thread")}
        try:
            times: dict[str, list[float]] = {"loop": [], "thread": [], "bare": [], "bare, idle before": []}

            async def rounds() -> None:
                for _ in range(args.rounds):
                    for name, values in (await round_trips(scorers, sequences, args.calls, args.gap_ms / 1000)).items():
                        times[name] += values
                    for name, gap_s in (("bare", 0.0), ("bare, idle before", args.gap_ms / 1000)):
                        for call in range(args.calls):
                            time.sleep(gap_s)
                            started = time.perf_counter()
                            bare.score([sequences[call % len(sequences)]])
                            times[name].append((time.perf_counter() - started) * 1000)

            asyncio.run(rounds())
        finally:
            for scorer in scorers.values():
                scorer.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"model {args.shape}, {statistics.fmean(len(s) for s in sequences):.0f} tokens per input, "
        f"{args.rounds} rounds x {args.calls} calls per path, {args.gap_ms:g} ms idle before each"
    )
    print(
        f"bare forward pass in this process: median {medians['bare']:.3f} ms back to back, "
        f"{medians['bare, idle before']:.3f} ms with the same idling before each"
    )
    print(
        f"round trip to a model process: loop (score_async) {medians['loop']:.3f} ms, "
        f"thread (worker + blocking socket) {medians['thread']:.3f} ms -> "
        f"{medians['thread'] - medians['loop']:.3f} ms less on the loop (thread / loop x{medians['thread'] / medians['loop']:.2f})"
    )


if __name__ == "__main__":
    main()
