"""Adaptation throughput and model FLOPs utilisation (MFU) of abkit's training loop.

Issue 19, item 5: adapt a randomly initialised Pythia-410m-shaped GPT-NeoX for a few hundred
steps at 2,048 tokens through ``abkit.training.adapt.adapt`` (the one accelerate path: bf16
autocast on a GPU that has it, fused AdamW, gradient accumulation), and report tokens/s and MFU
against the GPU's dense bf16 peak. Goal on an H100/H200: MFU >= 40%.

    python bench/bench_training_gpu.py --device cuda --shape pythia-410m --steps 200 --out gpu-training.json
    # a rehearsal on a CPU (float32; MFU only with --peak-tflops):
    python bench/bench_training_gpu.py --device cpu --shape tiny --context 128 --batch 4 --steps 30 --warmup-steps 10

Nothing is downloaded: the model has the published Pythia shape (Biderman et al. 2023, table 1)
and random weights, the tokens are random ids (a step's time depends on the shape, not on the
data). Time is read from the loss curve (``LossPoint.elapsed_s``, taken when the loss is read
back from the device every ``--log-every`` steps, so it waits for the GPU); the first
``--warmup-steps`` steps (allocator and kernel autotuning) and the checkpoints at step 0 and at
the end are outside the timed window.

Model FLOPs per token follow PaLM (Chowdhery et al. 2022, appendix B), as nanoGPT's
``estimate_mfu``: ``6 * N + 12 * layers * hidden * context``, N the parameters that take part in
matrix products (all but the input embedding, a lookup), the second term attention's scores and
weighted sums (forward and backward, full causal square counted as PaLM does).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from abkit.training.adapt import adapt
from abkit.training.config import AdaptSettings
from abkit.training.optim import Runtime
from abkit.training.packing import PackedCorpus
from abkit.training.tiny import tiny_gpt_neox_config, train_bpe_tokenizer

# (hidden, layers, heads) of the Pythia suite; vocabulary 50,304 rows as Pythia's embedding.
SHAPES = {
    "tiny": (64, 2, 4),
    "pythia-160m": (768, 12, 12),
    "pythia-410m": (1024, 24, 16),
    "pythia-1.4b": (2048, 24, 16),
    "pythia-2.8b": (2560, 32, 32),
}
PYTHIA_VOCAB = 50_304
# Dense bf16 tensor-core peaks from the vendors' data sheets (TFLOP/s, no sparsity); the first
# name found in torch.cuda.get_device_name() wins, so "A100" is looked up before "A10".
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "L4": 121.0,
}


def peak_tflops(device: torch.device) -> float | None:
    """The GPU's dense bf16 peak from its name, or None (a CPU, or a GPU not in the table)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def flops_per_token(model: torch.nn.Module, *, layers: int, hidden: int, context: int) -> float:
    """PaLM's model FLOPs per trained token: 6 N (matrix parameters) + 12 L H T (attention)."""
    embedding = model.get_input_embeddings().weight.numel()
    matrix_parameters = sum(p.numel() for p in model.parameters()) - embedding
    return 6.0 * matrix_parameters + 12.0 * layers * hidden * context


def random_corpus(n_sequences: int, context: int, vocab: int, generator: torch.Generator) -> PackedCorpus:
    """Full sequences of random token ids (no padding: fill rate 100%)."""
    ids = torch.randint(0, vocab, (n_sequences, context), generator=generator)
    return PackedCorpus(ids, torch.ones_like(ids), documents=n_sequences, tokens=ids.numel())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shape", default="pythia-410m", choices=sorted(SHAPES))
    parser.add_argument("--context", type=int, default=2048, help="Packed sequence length in tokens.")
    parser.add_argument("--batch", type=int, default=16, help="Sequences per micro-batch.")
    parser.add_argument("--accumulation", type=int, default=2, help="Micro-batches per optimizer step.")
    parser.add_argument("--steps", type=int, default=200, help="Optimizer steps.")
    parser.add_argument("--warmup-steps", type=int, default=20, help="Steps before the timed window.")
    parser.add_argument("--log-every", type=int, default=10, help="Steps between loss (and clock) readings.")
    parser.add_argument("--peak-tflops", type=float, default=None, help="Override the device's peak (TFLOP/s).")
    parser.add_argument("--out", type=Path, default=None, help="Write the figures as JSON here.")
    args = parser.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the checkpoints' "Writing model shards" bars
    if args.steps < args.warmup_steps + 2 * args.log_every:
        parser.error("--steps must leave at least two log intervals after --warmup-steps")

    runtime = Runtime.detect(args.device)
    hidden, layers, heads = SHAPES[args.shape]
    vocab = PYTHIA_VOCAB if args.shape != "tiny" else 1024
    # A tokenizer only because every checkpoint is a complete model directory; the ids are random.
    tokenizer = train_bpe_tokenizer(["abkit training benchmark"] * 4, vocab_size=300)
    config = tiny_gpt_neox_config(
        vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=args.context,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    from transformers import GPTNeoXForCausalLM

    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(config)
    per_token = flops_per_token(model, layers=layers, hidden=hidden, context=args.context)
    generator = torch.Generator().manual_seed(0)
    # A pool of distinct sequences reused across epochs; the data does not change a step's time.
    pool = args.batch * args.accumulation * min(args.steps, 32)
    train = random_corpus(pool, args.context, vocab, generator)
    heldout = random_corpus(args.batch, args.context, vocab, generator)
    settings = AdaptSettings(
        context_length=args.context,
        learning_rate=3e-4,  # Pythia-410m's peak
        batch_size=args.batch,
        gradient_accumulation_steps=args.accumulation,
        max_steps=args.steps,
        checkpoint_every=args.steps,  # checkpoints at step 0 and at the end only, outside the timed window
        log_every=args.log_every,
    )
    if runtime.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(runtime.device)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        result = adapt(model, tokenizer, train, heldout, settings, run_dir, runtime=runtime, progress=False)
    total_s = time.perf_counter() - started
    timed = [point for point in result.curve if point.step >= args.warmup_steps]
    first, last = timed[0], timed[-1]
    tokens_per_s = (last.tokens - first.tokens) / (last.elapsed_s - first.elapsed_s)
    achieved_tflops = tokens_per_s * per_token / 1e12
    peak = args.peak_tflops or peak_tflops(runtime.device)
    on_gpu = runtime.device.type == "cuda"
    figures = {
        "shape": args.shape,
        "parameters": result.parameters,
        "device": torch.cuda.get_device_name(runtime.device) if on_gpu else f"cpu ({platform.machine()})",
        "mixed_precision": runtime.mixed_precision,
        "attention": getattr(model.config, "_attn_implementation", None),
        "torch": torch.__version__,
        "context": args.context,
        "batch": args.batch,
        "accumulation": args.accumulation,
        "tokens_per_step": args.batch * args.accumulation * args.context,
        "steps": args.steps,
        "timed_steps": f"{first.step}-{last.step}",
        "seconds_per_step": (last.elapsed_s - first.elapsed_s) / (last.step - first.step),
        "tokens_per_s": tokens_per_s,
        "model_flops_per_token": per_token,
        "achieved_tflops": achieved_tflops,
        "peak_tflops": peak,
        "mfu": achieved_tflops / peak if peak else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated(runtime.device) / 2**30 if on_gpu else None,
        "loss_first_last": [result.curve[0].loss, result.curve[-1].loss],
        "wall_s_with_setup_and_checkpoints": total_s,
    }
    mfu = f"{figures['mfu']:.1%}" if figures["mfu"] is not None else "n/a (no peak known; --peak-tflops)"
    print(
        f"{args.shape} ({result.parameters / 1e6:.1f}M parameters) on {figures['device']}, {runtime.mixed_precision}, "
        f"context {args.context}, {figures['tokens_per_step']:,} tokens per step, steps {figures['timed_steps']} timed:"
    )
    print(
        f"  {tokens_per_s:,.0f} tokens/s, {figures['seconds_per_step']:.3f} s/step, "
        f"{achieved_tflops:.3g} TFLOP/s of model FLOPs (PaLM's 6N + 12LHT) / peak {peak or 'unknown'} = MFU {mfu}"
    )
    print(f"  training loss {result.curve[0].loss:.3f} -> {result.curve[-1].loss:.3f}; wall {total_s:.0f} s in all")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
