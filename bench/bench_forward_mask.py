"""A decoder's forward pass without the attention mask against with it, on right-padded batches.

    .venv/bin/python bench/bench_forward_mask.py [--device cuda] [--shapes tiny,small]

``HFScorer`` runs a causal decoder without the attention mask once it has checked, at load,
that right padding changes none of the pooled states (``HFScorer.mask_free``). This times
``HFScorer.score`` both ways on the same batches, in alternating rounds: random-init GPT-NeoX
models of ``bench_serving``'s shapes, batches whose lengths spread over the last tenth of the
window, as the batcher's length grouping leaves them. It checks first that both ways give the
same top-5, then prints the medians and the ratio with / without.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_rev import alternating_medians_ms  # noqa: E402
from bench_serving import N_TEMPLATES, build_model  # noqa: E402

from abkit.serving.scorer import HFScorer  # noqa: E402
from abkit.simulate.transcripts import generate_transcripts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", default="tiny,small")
    parser.add_argument("--batches", default="1x80,16x80,8x500,32x500", help="batch size x longest length")
    parser.add_argument("--cpu-threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.cpu_threads)
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    corpus = generate_transcripts(0, 100, N_TEMPLATES)
    texts = [m["text"] for case in corpus for m in case["messages"]]
    rnd = random.Random(0)
    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            scorer = HFScorer(build_model(Path(tmp, "m"), shape, texts, dtype), device=args.device)
        if not scorer.mask_free:
            raise SystemExit(f"{shape}: the load-time check kept the mask; nothing to compare")
        scorer.warm_up()
        vocabulary = int(scorer.model.config.vocab_size)
        for spec in args.batches.split(","):
            size, longest = (int(x) for x in spec.split("x"))
            lengths = [longest - rnd.randrange(max(1, longest // 10)) for _ in range(size)]
            sequences = [[rnd.randrange(3, vocabulary) for _ in range(n)] for n in lengths]

            def run(mask_free: bool, scorer: HFScorer = scorer, sequences: list[list[int]] = sequences) -> list:
                scorer.mask_free = mask_free
                return scorer.score(sequences)

            with_mask, without = run(False), run(True)
            if [t.template_ids for t in with_mask] != [t.template_ids for t in without]:
                raise SystemExit(f"{shape} {spec}: the top-5 differ with and without the mask")
            masked_ms, free_ms = alternating_medians_ms(
                lambda: run(False), lambda: run(True), args.rounds, args.repeats
            )
            print(
                f"{shape:7s} batch {size:3d} x {longest:3d} tokens: with the mask {masked_ms:8.2f} ms, "
                f"without {free_ms:8.2f} ms -> ratio with/without {masked_ms / free_ms:.2f}"
            )


if __name__ == "__main__":
    main()
