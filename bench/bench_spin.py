"""A forward pass after its core idled (sleeping) vs after it spun for as long, vs back to back.

    .venv/bin/python bench/bench_spin.py                          # tiny model, 512-token inputs, batch 1

Why the model process polls for its next batch before it sleeps (``abkit serve
--model-spin-ms``): at low load the child waits a few milliseconds between batches while the
service answers one request and reads the next. Each gap is either slept through (the core
goes idle) or spun through (the core keeps running), in blocks of ``--passes`` that
alternate, several times over (``--blocks``), so that drift in the machine hits every
variant alike. Figures: the median pass of each variant and its ratio to back to back.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path


def idle(seconds: float, spin: bool) -> None:
    if not spin:
        time.sleep(seconds)
        return
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny", help="a shape of bench_serving.py")
    parser.add_argument("--input-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--gaps-ms", default="1,3,10", help="idle gaps before each pass")
    parser.add_argument("--passes", type=int, default=40, help="passes per block")
    parser.add_argument("--blocks", type=int, default=5, help="blocks of each variant, alternating")
    parser.add_argument("--cpu-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()

    import torch
    from bench_serving import cpu_model_and_inputs

    from abkit.serving.allocator import keep_freed_memory

    keep_freed_memory()  # as in the model process
    torch.set_num_threads(args.cpu_threads)
    variants = [("back to back", 0.0, True)]
    for gap in (float(g) for g in args.gaps_ms.split(",")):
        variants += [
            (f"after sleeping {gap:g} ms", gap / 1000, False),
            (f"after spinning {gap:g} ms", gap / 1000, True),
        ]
    times: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory(prefix="abkit-bench-spin-") as tmp:
        scorer, sequences = cpu_model_and_inputs(Path(tmp, "model"), args.shape, args.input_tokens, 64)
        rnd = random.Random(0)
        for block in range(args.blocks):
            order = variants[block % len(variants) :] + variants[: block % len(variants)]
            for name, gap_s, spin in order:
                for _ in range(args.passes):
                    batch = rnd.sample(sequences, args.batch_size)
                    idle(gap_s, spin)
                    started = time.perf_counter()
                    scorer.score(batch)
                    times[name].append((time.perf_counter() - started) * 1000)
    hot = statistics.median(times["back to back"])
    results = {"shape": args.shape, "batch_size": args.batch_size, "median_ms": {}}
    print(f"model {args.shape}, batch {args.batch_size}, {args.input_tokens} tokens, torch threads {args.cpu_threads}")
    for name, measured in times.items():
        median = statistics.median(measured)
        results["median_ms"][name] = median
        print(f"{name:>24}: median {median:.2f} ms a pass, x{median / hot:.2f} the back-to-back pass")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
