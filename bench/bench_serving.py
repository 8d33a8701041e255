"""Service under load vs the bare scorer, on the same inputs, in one run.

    .venv/bin/python bench/bench_serving.py                       # tiny model, CPU (CI-sized)
    .venv/bin/python bench/bench_serving.py --device cuda --shape pythia-1.4b --input-tokens 512 \
        --rates 10,50,100 --rate-duration 60                        # the GPU figures

What it measures (the acceptance goals of the serving issue):

1. Saturation throughput: the bare scorer runs the inputs in batches back to back, timed at
   each of ``--bare-batch-sizes`` and taken at the fastest (requests/s); the service
   (``abkit serve`` in a subprocess, the same ``--max-batch-size``) is driven by
   ``--clients`` concurrent closed-loop clients for ``--saturation-duration`` seconds.
   Ratio = service / bare; goal >= 0.85 at 512 tokens on the 2-core development CPU.
2. Low-load latency: one request at a time. The bare figure is one forward pass of batch
   size 1 (token ids -> top-5 on the device); the service figure is the client-side round
   trip (HTTP, JSON, tokenization, assignment, batching, forward pass, event buffering).
   Difference of medians; goal <= 2 ms.
3. Optionally (``--rates``), open-loop P50/P99 at fixed rates with the load-test runner.

With ``--tune-batching`` the service runs with the batch limits ``abkit tune-batching``
advises for the model on this machine instead of ``--max-batch-size`` and
``--max-batch-tokens`` (``--compare-batching`` serves both side by side); the bare scorer
still gets its own best batch size.

``--compare-args=ARGS`` also serves this tree with the ``abkit serve`` arguments ``ARGS`` added
(``--compare-args=--max-padding=1``: without the padding limit), and ``--baseline-rev REV``
abkit as committed at ``REV`` with its own defaults; every service is measured in every round.

Models are randomly initialised with the published Pythia shapes (nothing is downloaded):
the time of a forward pass depends on the shape, not on the weights.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shlex
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from baseline_rev import baseline_worktree, remove_worktree
from serving_client import ServiceRun, service_latency_ms, start_service
from serving_inputs import (
    N_TEMPLATES,
    SHAPES,
    bare_batches,
    bare_latency_ms,
    bare_throughput,
    build_model,
    make_bodies,
    stamped_body,
    with_fresh_newest_message,
)

from abkit.loadtest.runner import run_rate
from abkit.loadtest.stats import format_summary, summarize
from abkit.serving.scorer import HFScorer
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import parse_messages
from abkit.tuning.batching import advise, default_lengths, probe, synthetic_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    parser.add_argument(
        "--input-tokens", type=int, default=0, help="0: natural conversation cuts; else fill the window to about this"
    )
    parser.add_argument("--inputs", type=int, default=256, help="distinct request bodies")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-batch-tokens", type=int, default=16384)
    parser.add_argument(
        "--tune-batching",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="serve with the batch limits abkit tune-batching advises for this model (within --max-batch-size) "
        "instead of --max-batch-size and --max-batch-tokens as given",
    )
    parser.add_argument("--tune-seconds", type=float, default=1.0, help="abkit tune-batching's --seconds")
    parser.add_argument(
        "--compare-batching",
        action="store_true",
        help="also serve this tree with --max-batch-size and --max-batch-tokens as given (with --tune-batching)",
    )
    parser.add_argument("--max-wait-ms", type=float, default=0.0, help="the service's extra wait for fuller batches")
    parser.add_argument(
        "--max-padding", type=float, default=0.25, help="the service's padding share limit per batch (1: none)"
    )
    parser.add_argument(
        "--bare-batch-sizes",
        default="8,16,32",
        help="bare scorer batch sizes to time (with --max-batch-size); the ratio uses the fastest",
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients at saturation")
    parser.add_argument("--saturation-duration", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=5, help="alternations of bare and service measurements")
    parser.add_argument("--latency-requests", type=int, default=200)
    parser.add_argument("--rates", default="", help="e.g. 10,50,100: also run the open-loop load test at these rates")
    parser.add_argument("--rate-duration", type=float, default=30.0)
    parser.add_argument(
        "--cpu-threads", type=int, default=0, help="torch threads in both the service and the bare scorer"
    )
    parser.add_argument(
        "--compare-args",
        help="also serve this tree with these abkit serve arguments added, e.g. '--max-padding 1'",
    )
    parser.add_argument(
        "--baseline-rev", help="also serve abkit as committed at this git revision, alternating with this tree's"
    )
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()
    if args.compare_batching and not args.tune_batching:
        parser.error("--compare-batching compares the advised batch limits with the given ones: add --tune-batching")

    device = torch.device(args.device)
    dtype = (
        torch.float32 if device.type == "cpu" else (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    )
    if args.cpu_threads:
        torch.set_num_threads(args.cpu_threads)
    corpus = generate_transcripts(0, 400, N_TEMPLATES)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    results: dict = {
        "shape": args.shape,
        "device": args.device,
        "dtype": str(dtype),
        "torch_threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory(prefix="abkit-bench-") as tmp:
        model_dir = build_model(Path(tmp, "model"), args.shape, texts, dtype)
        scorer = HFScorer(model_dir, device=args.device, token_cache_messages=0)  # inputs encoded whole
        scorer.warm_up()
        if args.tune_batching:
            advice = advise(
                probe(
                    scorer.score,
                    synthetic_batches(int(scorer.model.config.vocab_size), scorer.pad_token_id),
                    default_lengths(scorer.max_tokens),
                    args.max_batch_size,
                    seconds=args.tune_seconds,
                )
            )
            batching = (advice.max_batch_size, advice.max_batch_tokens)
            results["batching_advice"] = {c.length: c.batch_size for c in advice.choices}
            print(
                f"abkit tune-batching advises {advice.flags}: batches of {results['batching_advice']} by input length"
            )
        else:
            batching = (args.max_batch_size, args.max_batch_tokens)
        results["max_batch_size"], results["max_batch_tokens"] = batching
        bodies = [with_fresh_newest_message(b) for b in make_bodies(corpus, scorer, args.inputs, args.input_tokens, 1)]
        sequences = [scorer.encode(parse_messages(stamped_body(b, 0)["messages"])) for b in bodies]
        results["input_tokens_mean"] = statistics.fmean(len(s) for s in sequences)
        results["parameters"] = scorer.parameters

        # The window alone: every message encoded (the bench scorer keeps no cache), and with
        # the older messages cached as the service finds them (a cache warmed by request 0).
        tokenize_ms, tokenize_cached_ms = [], []
        cached = HFScorer(model_dir, device=args.device)
        for body in bodies[:100]:
            cached.encode(parse_messages(stamped_body(body, 0)["messages"]))
        for number, body in enumerate(bodies[:100], start=1):
            messages = parse_messages(stamped_body(body, number)["messages"])
            for encoder, times in ((scorer, tokenize_ms), (cached, tokenize_cached_ms)):
                started = time.perf_counter()
                encoder.encode(messages)
                times.append((time.perf_counter() - started) * 1000)
        worktree = baseline_worktree(args.baseline_rev, Path(tmp, "baseline")) if args.baseline_rev else None
        servers: dict[str, tuple[subprocess.Popen, str]] = {}
        # "service" is this tree; "untuned" this tree with the batch limits as given
        # (--compare-batching); "variant" this tree with --compare-args added; "baseline" the tree
        # at --baseline-rev, as "service".
        runs = {"service": ServiceRun()}
        runs |= {"untuned": ServiceRun()} if args.compare_batching else {}
        runs |= {"variant": ServiceRun()} if args.compare_args else {}
        runs |= {"baseline": ServiceRun()} if worktree else {}
        try:
            for name in runs:
                servers[name] = start_service(
                    model_dir,
                    Path(tmp, f"{name}.sqlite"),
                    args,
                    (args.max_batch_size, args.max_batch_tokens) if name == "untuned" else batching,
                    worktree if name == "baseline" else None,
                    shlex.split(args.compare_args) if name == "variant" else (),
                )
                service_latency_ms(servers[name][1], bodies, 20)  # warm the connection and the service
            # Candidate and baseline alternate in rounds, so that drift in the machine's load
            # (shared CI runners) hits both alike.
            bare_ms: list[float] = []
            # Bare batched throughput at each --bare-batch-sizes; the ratio is taken against the
            # best of them, so that a batch size the CPU happens to like does not flatter the service.
            sizes = sorted({int(x) for x in args.bare_batch_sizes.split(",")} | {args.max_batch_size, batching[0]})
            bare = {size: [0, 0.0, 0] for size in sizes}  # requests, seconds, padded tokens
            batch_streams = {size: bare_batches(sequences, size) for size in sizes}
            per_round = max(1, args.latency_requests // args.rounds)
            window = args.saturation_duration / args.rounds
            names = list(runs)
            for round_index in range(args.rounds):
                # Each round starts with another service, so that none is always measured first.
                order = names[round_index % len(names) :] + names[: round_index % len(names)]
                bare_ms += bare_latency_ms(scorer, sequences, per_round)
                for name in order:
                    runs[name].one_at_a_time(servers[name][1], bodies, per_round)
                for size in sizes:
                    done, elapsed, padded = bare_throughput(scorer, batch_streams[size], window)
                    bare[size] = [bare[size][0] + done, bare[size][1] + elapsed, bare[size][2] + padded]
                for name in order:
                    runs[name].saturate(servers[name][1], bodies, args.clients, window)
            bare_rps_by_size = {size: done / seconds for size, (done, seconds, _) in bare.items()}
            best_size = max(sizes, key=lambda size: bare_rps_by_size[size])
            bare_rps = bare_rps_by_size[best_size]
            bare_done, _, bare_padded = bare[best_size]
            rate_summaries = []
            for rate in [float(r) for r in args.rates.split(",") if r]:
                count = int(rate * args.rate_duration) + len(bodies)
                source = (
                    stamped_body(body, n) for n, body in enumerate(itertools.islice(itertools.cycle(bodies), count))
                )
                outcomes = asyncio.run(
                    run_rate(servers["service"][1], rate, args.rate_duration, source, concurrency=256, timeout_s=30)
                )
                summary = summarize(outcomes, rate, args.rate_duration)
                print(format_summary(summary))
                rate_summaries.append(summary.to_dict())
        finally:
            for process, _url in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(120)
            if worktree is not None:
                remove_worktree(worktree)

    service = runs["service"]
    results.update(
        tokenize_median_ms=statistics.median(tokenize_ms),
        tokenize_cached_median_ms=statistics.median(tokenize_cached_ms),
        bare_forward_median_ms=statistics.median(bare_ms),
        bare_batched_rps=bare_rps,
        bare_best_batch_size=best_size,
        bare_rps_by_batch_size=bare_rps_by_size,
        bare_padded_tokens_per_request=bare_padded / bare_done,
        max_padding=args.max_padding,
        rates=rate_summaries,
        baseline_rev=args.baseline_rev,
    )
    for name, run in runs.items():
        results[name] = run.figures(statistics.median(bare_ms), bare_rps)
    results.update(  # the service's figures at the top level, as before
        service_median_ms=results["service"]["median_ms"],
        low_load_overhead_ms=results["service"]["low_load_overhead_ms"],
        service_saturated_rps=results["service"]["saturated_rps"],
        service_failed_requests=service.failed,
        throughput_ratio=results["service"]["throughput_ratio"],
        service_metrics=results["service"]["batches"],
        client_cpu_ms_per_request=results["service"]["client_cpu_ms_per_request"],
    )
    print(
        f"model {args.shape} ({results['parameters'] / 1e6:.1f}M parameters) on {args.device} {dtype}, "
        f"{results['input_tokens_mean']:.0f} tokens per input on average, torch threads {results['torch_threads']}"
    )
    print(
        "bare batched throughput by batch size: "
        + ", ".join(f"{size}: {rps:.1f} req/s" for size, rps in bare_rps_by_size.items())
    )
    for name in runs:
        figures = results[name]
        limits = f"--max-batch-size {args.max_batch_size} --max-batch-tokens {args.max_batch_tokens}"
        label = {
            "baseline": f"baseline service ({args.baseline_rev})",
            "untuned": f"untuned service ({limits})",
            "variant": f"service with {args.compare_args}",
        }.get(name, "service")
        print(
            f"{label} low load: median {figures['median_ms']:.2f} ms (P99 {figures['p99_ms']:.2f}) vs bare forward pass "
            f"{results['bare_forward_median_ms']:.2f} ms -> overhead {figures['low_load_overhead_ms']:.2f} ms "
            f"(goal <= 2 ms; the window alone: {results['tokenize_median_ms']:.2f} ms, "
            f"{results['tokenize_cached_median_ms']:.2f} ms with the older messages cached)"
        )
        batches = figures["batches"]
        print(
            f"{label} saturation: {figures['saturated_rps']:.1f} req/s vs bare batched {bare_rps:.1f} req/s "
            f"(its best batch size, {best_size}) -> ratio "
            f"{figures['throughput_ratio']:.3f} (goal >= 0.85); P99 {figures['saturated_p99_ms']:.1f} ms, "
            f"max {figures['saturated_max_ms']:.1f} ms; {runs[name].failed} failed requests; "
            f"batches averaged {batches['mean_batch_size']:.1f} requests and {batches['mean_forward_pass_ms']:.1f} ms, "
            f"{batches['padded_tokens_per_request']:.0f} padded tokens per request "
            f"(bare: {results['bare_padded_tokens_per_request']:.0f}); the load client itself used "
            f"{figures['client_cpu_ms_per_request']:.3f} ms CPU per request on the same cores"
        )
    candidate = results["service"]
    comparisons = {
        "untuned": "service with the advised batch limits / as given",
        "variant": f"service / with {args.compare_args}",
        "baseline": f"service / baseline ({args.baseline_rev})",
    }
    for name, label in comparisons.items():
        if name in runs:
            other = results[name]
            print(
                f"{label}: saturated throughput x{candidate['saturated_rps'] / other['saturated_rps']:.2f}, "
                f"ratio {candidate['throughput_ratio']:.3f} vs {other['throughput_ratio']:.3f}, "
                f"low-load overhead {candidate['low_load_overhead_ms']:.2f} vs {other['low_load_overhead_ms']:.2f} ms, "
                f"saturated P99 x{candidate['saturated_p99_ms'] / other['saturated_p99_ms']:.2f}"
            )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
