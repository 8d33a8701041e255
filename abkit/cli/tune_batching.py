"""`abkit tune-batching`: time a serving directory's forward passes and advise `abkit serve`'s batch limits."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from abkit.tuning.batching import DEFAULT_TOLERANCE


def parse_lengths(value: str, max_tokens: int) -> list[int]:
    """``"64,512"`` -> ``[64, 512]``, each a whole number of tokens within the model's window.

    Raises:
        click.BadParameter: a length that is not a positive whole number or exceeds ``max_tokens``.
    """
    lengths = []
    for part in value.split(","):
        try:
            length = int(part)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not a whole number of tokens", param_hint="--lengths") from None
        if not 1 <= length <= max_tokens:
            raise click.BadParameter(
                f"{length} must be between 1 and the model's window of {max_tokens} tokens", param_hint="--lengths"
            )
        lengths.append(length)
    return sorted(set(lengths))


@click.command()
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Serving directory (abkit train's output).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (as abkit serve).")
@click.option("--dtype", default="auto", show_default=True, help="auto, float32, float16, bfloat16 (as abkit serve).")
@click.option(
    "--cpu-threads",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Torch CPU threads, as given to abkit serve (0: torch's default).",
)
@click.option(
    "--lengths", help="Input lengths in tokens, comma-separated; default: 64, 128, ... up to the model's window."
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Largest batch to try (sizes double from 1).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Timing per batch shape, spread over the rounds.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Rounds over all shapes; each shape's figure is its median round (a noisy machine moves it less).",
)
@click.option(
    "--max-batch-ms",
    type=click.FloatRange(min=0, min_open=True),
    default=1000.0,
    show_default=True,
    help="Larger batches are not tried once one pass takes longer than this.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    help="A batch within this share of the best throughput counts as the best; the smallest such is advised.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the timings and advice as JSON.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic token ids.")
def tune_batching(
    model_dir: Path,
    device: str,
    dtype: str,
    cpu_threads: int,
    lengths: str | None,
    max_batch_size: int,
    seconds: float,
    rounds: int,
    max_batch_ms: float,
    tolerance: float,
    out: Path | None,
    seed: int,
) -> None:
    """Time forward passes by batch size and input length; print the --max-batch-size and
    --max-batch-tokens that serve this model fastest here (see docs/serving.md)."""
    from abkit.cli.extras import requires_extra

    with requires_extra("serve", "tune-batching"):
        import torch
        from transformers.utils import logging as hf_logging

        from abkit.serving.scorer import HFScorer
        from abkit.training.serving_dir import check_serving_dir
        from abkit.tuning.batching import advise, default_lengths, probe, synthetic_batches

    hf_logging.disable_progress_bar()
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    try:
        max_tokens = check_serving_dir(model_dir).max_tokens  # checks --lengths before the (slow) load
        probed = parse_lengths(lengths, max_tokens) if lengths else default_lengths(max_tokens)
        scorer = HFScorer(model_dir, device=device, dtype=dtype, token_cache_messages=0)
    except (ValueError, FileNotFoundError) as error:
        raise click.UsageError(str(error)) from None
    scorer.warm_up()
    click.echo(
        f"{scorer.model_version}: {scorer.parameters / 1e6:.1f}M parameters on {scorer.device} {scorer.dtype}, "
        f"torch threads {torch.get_num_threads()}; timing lengths {probed} at batch sizes up to {max_batch_size}, "
        f"{seconds:g} s a shape over {rounds} rounds"
    )
    skipped: list[dict[str, object]] = []

    def on_skipped(length: int, size: int, reason: str) -> None:
        skipped.append({"length": length, "batch_size": size, "reason": reason})
        click.echo(f"  {length:>6} tokens x {size:>3}: {reason}; larger batches not tried")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    timings = probe(
        scorer.score,
        synthetic_batches(int(scorer.model.config.vocab_size), scorer.pad_token_id, seed),
        probed,
        max_batch_size,
        seconds=seconds,
        rounds=rounds,
        max_batch_seconds=max_batch_ms / 1000,
        out_of_memory=(torch.cuda.OutOfMemoryError,),
        on_skipped=on_skipped,
    )
    for t in timings:
        click.echo(
            f"  {t.length:>6} tokens x {t.batch_size:>3}: {t.requests_per_second:>10,.1f} req/s "
            f"({1000 * t.batch_seconds:.2f} ms a batch; median of {rounds} rounds)"
        )
    if not timings:
        raise click.ClickException("no batch fitted the device or the --max-batch-ms limit: nothing to advise")
    advice = advise(timings, tolerance)
    for choice in advice.choices:
        click.echo(
            f"{choice.length} tokens: batches of {choice.batch_size} ({choice.requests_per_second:,.1f} req/s; "
            f"the best, {choice.best_batch_size}, {choice.best_requests_per_second:,.1f} req/s)"
        )
    click.echo(f"advice: abkit serve --model {model_dir} {advice.flags}")
    if scorer.device.type == "cpu":
        # Measured on the 2-core development machine (docs/serving.md): the advice served x1.25-1.27 the
        # defaults' throughput for short inputs, x0.98 for 512-token ones.
        click.echo(
            "on a CPU the service's web layer shares the cores with the model, "
            "so the service may gain less than these timings promise: measure it with the advice "
            "(bench/bench_serving.py --tune-batching --compare-batching) before adopting it"
        )
    if out is not None:
        record = {
            "model_version": scorer.model_version,
            "device": str(scorer.device),
            "dtype": str(scorer.dtype),
            "torch_threads": torch.get_num_threads(),
            "timings": [
                {**asdict(t), "requests_per_second": t.requests_per_second, "batch_seconds": t.batch_seconds}
                for t in timings
            ],
            "skipped": skipped,
            "advice": asdict(advice),
        }
        try:
            out.write_text(json.dumps(record, indent=2), encoding="utf-8")
        except OSError as error:
            raise click.ClickException(f"--out {out}: {error.strerror}") from None
