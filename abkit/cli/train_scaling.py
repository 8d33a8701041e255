"""`abkit train scaling` and `abkit train scaling-demo`: classification loss against LM loss, tokens
and FLOPs of adaptation (docs/training.md, "Scaling analysis")."""

from __future__ import annotations

import json
from pathlib import Path

import click

from abkit.cli.extras import requires_extra
from abkit.cli.train_options import (
    DATA_OPTION,
    DEVICE_OPTION,
    QUIET_OPTION,
    SIZE_OPTION,
    SPLIT_SEED_OPTION,
    THREADS_OPTION,
    fail,
    set_threads,
    setup_training,
    transformers_logging,
)

FINETUNES_OPTION = click.option(
    "--finetunes",
    default=None,
    type=click.IntRange(min=1),
    help="Classifiers fine-tuned per checkpoint (seeds seed, seed+1, ...), averaged: fine-tuning noise shrinks by its square root.",
)


@click.command()
@DATA_OPTION
@click.option(
    "--run",
    "runs",
    multiple=True,
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Adaptation run directory (repeat for several sizes or runs).",
)
@SIZE_OPTION
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where scaling.json and scaling.html go.",
)
@SPLIT_SEED_OPTION
@click.option(
    "--include-start",
    is_flag=True,
    help="Also fit step 0 (the starting model, a leverage point); by default it is reported apart.",
)
@FINETUNES_OPTION
@DEVICE_OPTION
@THREADS_OPTION
@QUIET_OPTION
@requires_extra("train", "train")
def scaling(
    data_file: Path,
    runs: tuple[Path, ...],
    size: str,
    out: Path,
    split_seed: int,
    include_start: bool,
    finetunes: int | None,
    device: str | None,
    threads: int,
    quiet: bool,
) -> None:
    """Fine-tune every adaptation checkpoint; fit classification loss to LM loss, tokens, FLOPs per run."""
    from abkit.training.corpus import CorpusError
    from abkit.training.outputs import prepare_dir
    from abkit.training.scaling import analyse_scaling, run_scaling, scaling_table
    from abkit.training.scaling_chart import write_scaling_html

    config, cases, runtime = setup_training(size, data_file, device, quiet, threads)
    try:
        prepare_dir(out)
        points = run_scaling(
            runs, cases, config, split_seed=split_seed, finetunes=finetunes or 1, runtime=runtime, progress=not quiet
        )
    except (CorpusError, FileNotFoundError, ValueError) as error:
        fail(error)
    analysis = analyse_scaling(points, include_start=include_start)
    (out / "scaling.json").write_text(json.dumps(analysis.to_dict(), indent=2))
    chart = write_scaling_html(out / "scaling.html", analysis)
    click.echo(scaling_table(analysis))
    click.echo(f"chart: {chart}")


@click.command("scaling-demo")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Corpus, runs and the analysis."
)
@click.option(
    "--size",
    "sizes",
    multiple=True,
    help="Size config to adapt (repeat; default scaling-xs and scaling-s).",
)
@click.option("--cases", "n_cases", default=None, type=click.IntRange(min=20), help="Simulated cases (default 2000).")
@click.option("--templates", "n_templates", default=None, type=click.IntRange(min=2, max=960), help="Default 40.")
@click.option(
    "--adapt-cases",
    default=None,
    type=click.IntRange(min=0),
    help="Simulated cases beyond --cases that only adaptation reads (default 6000).",
)
@click.option(
    "--language",
    type=click.Choice(["plain", "rich"]),
    default="rich",
    show_default=True,
    help="Simulated wording (docs/training.md).",
)
@click.option("--seed", default=0, show_default=True, help="Seeds the corpus, split and initialisations.")
@FINETUNES_OPTION
@DEVICE_OPTION
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch CPU threads (as demo-model)."
)
@QUIET_OPTION
@requires_extra("train", "train")
def scaling_demo(
    out: Path,
    sizes: tuple[str, ...],
    n_cases: int | None,
    n_templates: int | None,
    adapt_cases: int | None,
    language: str,
    seed: int,
    finetunes: int | None,
    device: str | None,
    threads: int,
    quiet: bool,
) -> None:
    """Adapt two sizes on a simulated corpus, fine-tune every checkpoint, fit per size (docs/training.md)."""
    from abkit.training.config import ConfigError
    from abkit.training.optim import Runtime
    from abkit.training.scaling import scaling_table
    from abkit.training.scaling_chart import write_scaling_html
    from abkit.training.scaling_demo import (
        DEMO_ADAPT_CASES,
        DEMO_CASES,
        DEMO_FINETUNES,
        DEMO_SIZES,
        DEMO_TEMPLATES,
        run_scaling_demo,
    )

    transformers_logging(quiet)
    set_threads(threads)
    try:
        result = run_scaling_demo(
            out,
            sizes=sizes or DEMO_SIZES,
            seed=seed,
            n_cases=n_cases or DEMO_CASES,
            n_templates=n_templates or DEMO_TEMPLATES,
            adapt_cases=DEMO_ADAPT_CASES if adapt_cases is None else adapt_cases,
            language=language,
            finetunes=finetunes or DEMO_FINETUNES,
            runtime=Runtime.detect(device),
            progress=not quiet,
        )
    except (ConfigError, ValueError) as error:
        fail(error)
    (out / "scaling.json").write_text(json.dumps(result.analysis.to_dict(), indent=2))
    chart = write_scaling_html(out / "scaling.html", result.analysis)
    click.echo(scaling_table(result.analysis))
    click.echo("")
    for line in result.findings():
        click.echo(line)
    click.echo(f"chart: {chart}")
