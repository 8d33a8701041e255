"""Forward passes with glibc keeping freed memory (abkit's default) vs glibc's own policy.

    .venv/bin/python bench/bench_malloc.py                        # tiny model, 512-token inputs, CPU
    .venv/bin/python bench/bench_malloc.py --shape small --batch-sizes 8,32

Each measurement is a fresh process (a model process as ``abkit serve`` starts one: one
torch thread by default, the model loaded, warmed, then batches scored back to back), since
how glibc's dynamic thresholds settle, and so how many pages each pass faults in, differs
from process to process. The two policies alternate, ``--processes`` of each per batch size;
the figures are the medians over the processes, with their range, and the ratio of the
medians. Page faults are the process's minor faults per batch (``getrusage``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = ("glibc default", "keep freed memory")


def child(args: argparse.Namespace) -> None:
    """One measurement: print ms and minor page faults per batch as JSON."""
    import torch

    from abkit.serving.allocator import keep_freed_memory

    if args.policy == POLICIES[1]:
        settings = keep_freed_memory()
        if not settings.applied:
            raise SystemExit(f"bench_malloc: {settings.detail}")
    torch.set_num_threads(args.cpu_threads)
    from abkit.serving.scorer import HFScorer

    scorer = HFScorer(args.model, device="cpu", token_cache_messages=0)
    scorer.warm_up()
    sequences = json.loads(Path(args.sequences).read_text())
    rnd = random.Random(0)  # the same batches in every process
    batches = [sorted(rnd.sample(sequences, args.batch_size), key=len) for _ in range(args.warm_batches + args.batches)]
    for batch in batches[: args.warm_batches]:
        scorer.score(batch)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for batch in batches[args.warm_batches :]:
        scorer.score(batch)
    elapsed = time.perf_counter() - started
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps({"ms_per_batch": 1000 * elapsed / args.batches, "faults_per_batch": faults / args.batches}))


def measure(args: argparse.Namespace, model: Path, sequences: Path, policy: str, batch_size: int) -> dict:
    command = [sys.executable, __file__, "--child", "--policy", policy, "--model", str(model)]
    command += ["--sequences", str(sequences), "--batch-size", str(batch_size), "--batches", str(args.batches)]
    command += ["--warm-batches", str(args.warm_batches), "--cpu-threads", str(args.cpu_threads)]
    # Without the caller's MALLOC_* or GLIBC_TUNABLES, so that "glibc default" is the default.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    env["TOKENIZERS_PARALLELISM"] = "false"
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny", help="a shape of bench_serving.py")
    parser.add_argument("--input-tokens", type=int, default=512)
    parser.add_argument("--batch-sizes", default="8,30")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes per policy and batch size")
    parser.add_argument("--batches", type=int, default=30, help="timed batches per process")
    parser.add_argument("--warm-batches", type=int, default=5)
    parser.add_argument("--cpu-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    # One measurement (run by the bench itself).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--sequences", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from bench_serving import cpu_model_and_inputs

    results: dict = {"shape": args.shape, "input_tokens": args.input_tokens, "cpu_threads": args.cpu_threads}
    with tempfile.TemporaryDirectory(prefix="abkit-bench-malloc-") as tmp:
        model = Path(tmp, "model")
        _, encoded = cpu_model_and_inputs(model, args.shape, args.input_tokens, 256)
        sequences = Path(tmp, "sequences.json")
        sequences.write_text(json.dumps(encoded))
        for batch_size in (int(size) for size in args.batch_sizes.split(",")):
            runs: dict[str, list[dict]] = {policy: [] for policy in POLICIES}
            for index in range(args.processes):
                # Alternating, each policy first in every other round, so that drift hits both alike.
                for policy in POLICIES if index % 2 == 0 else POLICIES[::-1]:
                    runs[policy].append(measure(args, model, sequences, policy, batch_size))
            figures = {}
            for policy, measured in runs.items():
                ms = [m["ms_per_batch"] for m in measured]
                faults = [m["faults_per_batch"] for m in measured]
                figures[policy] = {"ms_per_batch": ms, "faults_per_batch": faults}
                print(
                    f"batch {batch_size}, {policy}: median {statistics.median(ms):.1f} ms a batch "
                    f"({min(ms):.1f}-{max(ms):.1f} over {len(ms)} processes), "
                    f"{statistics.median(faults):.0f} page faults a batch ({min(faults):.0f}-{max(faults):.0f})"
                )
            ratio = statistics.median(figures[POLICIES[0]]["ms_per_batch"]) / statistics.median(
                figures[POLICIES[1]]["ms_per_batch"]
            )
            figures["speedup"] = ratio
            results[f"batch_{batch_size}"] = figures
            print(f"batch {batch_size}: keeping freed memory is x{ratio:.2f} the batches per second of glibc's default")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
