"""The classifier's input window on long conversations, against the code at a git revision.

    .venv/bin/python bench/bench_window.py [--baseline-rev c35d1dc] [--messages 5,60,500,2000]

Every suggest request carries the whole conversation so far, and the service builds the
512-token window from it on the event loop (:func:`abkit.text.window_token_ids`, the code
training uses). Candidate: the working tree's function, which tokenizes newest first in
doubling chunks until the window is full; baseline: the same file at ``--baseline-rev``, which
tokenized every message. Both run with the serving tokenizer path (``BackendTokenizer``) on
the same simulated conversations, alternating; both must return the same ids.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from baseline_rev import alternating_medians_ms, module_at

from abkit.serving.scorer import MessageEncoder
from abkit.simulate.transcripts import generate_transcripts
from abkit.text import Message
from abkit.text import transcript as candidate
from abkit.training.tiny import build_random_classifier


def conversation(corpus: list[dict], n_messages: int) -> list[Message]:
    """``n_messages`` simulated messages, cases one after another as one long conversation."""
    pool = [Message(m["role"], m["text"]) for case in corpus for m in case["messages"]]
    return [pool[i % len(pool)] for i in range(n_messages)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-rev", default="c35d1dc", help="git revision of the baseline transcript.py")
    parser.add_argument("--messages", default="5,60,500,2000", help="messages per conversation")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20, help="windows per round and side")
    args = parser.parse_args()
    baseline = module_at(args.baseline_rev, "abkit/text/transcript.py", "baseline_transcript")
    corpus = generate_transcripts(0, 200, 40)
    with tempfile.TemporaryDirectory() as tmp:
        texts = [m["text"] for case in corpus for m in case["messages"]]
        model_dir = build_random_classifier(Path(tmp, "m"), texts, [f"T{i}" for i in range(40)], model_version="b")
        # the serving path without its cache: the Rust backend, called directly
        tokenizer = MessageEncoder(model_dir, token_cache_messages=0).token_cache.inner
    for n in [int(x) for x in args.messages.split(",")]:
        messages = conversation(corpus, n)
        new_ids = candidate.window_token_ids(messages, tokenizer, 512)
        if new_ids != baseline.window_token_ids(messages, tokenizer, 512):
            raise SystemExit(f"{n} messages: candidate and baseline windows differ")
        old, new = alternating_medians_ms(
            lambda messages=messages: baseline.window_token_ids(messages, tokenizer, 512),
            lambda messages=messages: candidate.window_token_ids(messages, tokenizer, 512),
            args.rounds,
            args.repeats,
        )
        print(
            f"{n:5d} messages ({len(new_ids)} tokens kept): baseline ({args.baseline_rev}) {old:7.3f} ms, "
            f"candidate {new:7.3f} ms -> ratio baseline/candidate {old / new:.2f}"
        )


if __name__ == "__main__":
    main()
