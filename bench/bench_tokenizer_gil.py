"""The serving tokenizer with another thread busy, against the code at a git revision.

    .venv/bin/python bench/bench_tokenizer_gil.py [--baseline-rev 126b34a] [--texts 1,8,56]

The service tokenizes each request's new messages on its event loop while other threads of
the process (the event writer) run Python code. A call that releases the GIL, as the Rust
tokenizer's ``encode_batch`` does, then waits to get it back, up to the interpreter's switch
interval (``abkit serve`` sets 0.5 ms). Candidate: the working tree's ``BackendTokenizer``;
baseline: ``abkit/serving/scorer.py`` at ``--baseline-rev``. Both encode the same new
(never seen) simulated messages, alternating, with the switch interval ``abkit serve`` uses,
first alone and then beside a thread running pure Python; both must give the same ids.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import threading
from pathlib import Path

from baseline_rev import alternating_medians_ms, module_at

from abkit.serving import scorer as candidate
from abkit.simulate.transcripts import generate_transcripts
from abkit.training.tiny import build_random_classifier


def busy_python(stop: threading.Event) -> None:
    """Interpreter work with no blocking call, as the event writer's row building is."""
    while not stop.is_set():
        sum(range(2_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-rev", default="126b34a", help="git revision of the baseline scorer.py")
    parser.add_argument("--texts", default="1,8,56", help="texts per tokenizer call (a request's new messages)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=200, help="calls per round and side")
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)  # as abkit serve sets it (ABKIT_SWITCH_INTERVAL_S)
    baseline = module_at(args.baseline_rev, "abkit/serving/scorer.py", "baseline_scorer")
    corpus = generate_transcripts(0, 200, 40)
    messages = [m["text"] for case in corpus for m in case["messages"]]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_random_classifier(Path(tmp, "m"), messages, [f"T{i}" for i in range(40)], model_version="b")
        hf_tokenizer = candidate.MessageEncoder(model_dir, token_cache_messages=0).tokenizer
    new, old = candidate.BackendTokenizer(hf_tokenizer), baseline.BackendTokenizer(hf_tokenizer)
    numbers = itertools.count()

    def fresh(n: int) -> list[str]:
        """``n`` messages no call has seen (a request number appended), as a new customer message is."""
        return [f"{messages[i % len(messages)]} (ref {next(numbers):08d})" for i in range(n)]

    for n in [int(x) for x in args.texts.split(",")]:
        sample = fresh(n)
        if new(sample, add_special_tokens=False) != old(sample, add_special_tokens=False):
            raise SystemExit(f"{n} texts: candidate and baseline ids differ")
        for busy in (False, True):
            stop = threading.Event()
            worker = threading.Thread(target=busy_python, args=(stop,), daemon=True)
            if busy:
                worker.start()
            try:
                old_ms, new_ms = alternating_medians_ms(
                    lambda n=n: old(fresh(n), add_special_tokens=False),
                    lambda n=n: new(fresh(n), add_special_tokens=False),
                    args.rounds,
                    args.repeats,
                )
            finally:
                stop.set()
                if busy:
                    worker.join()
            print(
                f"{n:3d} texts a call, {'beside a busy thread' if busy else 'alone':>20}: baseline "
                f"({args.baseline_rev}) {old_ms:7.3f} ms, candidate {new_ms:7.3f} ms -> ratio baseline/candidate "
                f"{old_ms / new_ms:.2f}"
            )


if __name__ == "__main__":
    main()
