"""`abkit train`: corpus, adaptation, fine-tuning, evaluation and the demo model; the scaling
commands live in abkit.cli.train_scaling, the shared options in abkit.cli.train_options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import click

from abkit.cli.extras import requires_extra
from abkit.cli.train_options import (
    DATA_OPTION,
    DEVICE_OPTION,
    QUIET_OPTION,
    SIZE_OPTION,
    SPLIT_SEED_OPTION,
    THREADS_OPTION,
    check_run_out,
    fail,
    set_threads,
    setup_training,
    transformers_logging,
)
from abkit.cli.train_scaling import scaling, scaling_demo


@click.group()
def train() -> None:
    """Train template classifiers: corpus, adapt, finetune, evaluate, scaling, scaling-demo, demo-model."""


@train.command()
@DATA_OPTION
@SIZE_OPTION
@click.option("--base-model", default=None, help="Local checkpoint directory to start from (e.g. a Pythia download).")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run directory for checkpoints."
)
@click.option(
    "--resume",
    "resume_from",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Checkpoint directory to resume from.",
)
@SPLIT_SEED_OPTION
@click.option("--all-cases", is_flag=True, help="Adapt on every case, not only the training half of the split.")
@DEVICE_OPTION
@THREADS_OPTION
@QUIET_OPTION
@requires_extra("train", "train")
def adapt(
    data_file: Path,
    size: str,
    base_model: str | None,
    out: Path,
    resume_from: Path | None,
    split_seed: int,
    all_cases: bool,
    device: str | None,
    threads: int,
    quiet: bool,
) -> None:
    """Phase 1: causal-LM domain adaptation on packed transcripts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from abkit.training.corpus import CorpusError, split_cases
    from abkit.training.pipeline import load_base, run_adaptation
    from abkit.training.serving_dir import check_model_dir

    config, cases, runtime = setup_training(size, data_file, device, quiet, threads)
    check_run_out(out, resuming=resume_from is not None)
    try:
        if resume_from is not None:
            check_model_dir(resume_from)
            tokenizer = AutoTokenizer.from_pretrained(resume_from, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(resume_from, local_files_only=True)
        else:
            tokenizer_cases = cases if all_cases else split_cases(cases, seed=split_seed).train
            model, tokenizer, _ = load_base(config, tokenizer_cases, base_model=base_model, seed=config.adapt.seed)
        result = run_adaptation(
            model,
            tokenizer,
            cases,
            config,
            out,
            split_seed=None if all_cases else split_seed,
            resume_from=resume_from,
            runtime=runtime,
            progress=not quiet,
        )
    except (CorpusError, FileNotFoundError, ValueError) as error:
        fail(error)
    click.echo(
        f"packed fill rate: {result.fill_rate:.2%}; tokens seen: {result.tokens_seen:,}; FLOPs (6ND): {result.flops:.3g}"
    )
    for checkpoint in result.checkpoints:
        click.echo(
            f"step {checkpoint.step:>7}  tokens {checkpoint.tokens:>12,}  held-out LM loss {checkpoint.heldout_loss:.4f}  {checkpoint.path}"
        )


@train.command()
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@DATA_OPTION
@SIZE_OPTION
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Serving directory to write."
)
@click.option("--model-version", default="v1", show_default=True, help="Version name used by arms and events.")
@SPLIT_SEED_OPTION
@click.option("--encoder/--no-encoder", default=True, show_default=True, help="Also train the BERT-style baseline.")
@DEVICE_OPTION
@THREADS_OPTION
@QUIET_OPTION
@requires_extra("train", "train")
def finetune(
    source: Path,
    data_file: Path,
    size: str,
    out: Path,
    model_version: str,
    split_seed: int,
    encoder: bool,
    device: str | None,
    threads: int,
    quiet: bool,
) -> None:
    """Phase 2: fine-tune SOURCE (an adaptation checkpoint or base model) as a classifier."""
    from abkit.training.corpus import CorpusError
    from abkit.training.metrics import metrics_table
    from abkit.training.pipeline import run_finetune
    from abkit.training.serving_dir import check_serving_out

    config, cases, runtime = setup_training(size, data_file, device, quiet, threads)
    try:
        check_serving_out(out)
        report = run_finetune(
            source,
            cases,
            config,
            out,
            model_version=model_version,
            split_seed=split_seed,
            with_encoder=encoder,
            runtime=runtime,
            progress=not quiet,
        )
    except (CorpusError, FileNotFoundError, ValueError) as error:
        fail(error)
    click.echo(metrics_table(report.table_rows()))
    click.echo(f"serving directory: {out}")


@train.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@DATA_OPTION
@click.option(
    "--half",
    type=click.Choice(["all", "train", "test"]),
    default="all",
    show_default=True,
    help="Which half of the split to evaluate.",
)
@SPLIT_SEED_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@DEVICE_OPTION
@THREADS_OPTION
@requires_extra("train", "train")
def evaluate(
    directory: Path, data_file: Path, half: str, split_seed: int, as_json: bool, device: str | None, threads: int
) -> None:
    """Re-evaluate the serving DIRECTORY on the labelled messages of --data."""
    from abkit.training.corpus import CorpusError
    from abkit.training.evaluate import Half, evaluate_serving_dir
    from abkit.training.metrics import metrics_table

    _, cases, runtime = setup_training("tiny", data_file, device, True, threads)
    try:
        # click.Choice has checked the value against the Literal's members.
        result = evaluate_serving_dir(directory, cases, half=cast(Half, half), split_seed=split_seed, runtime=runtime)
    except (CorpusError, FileNotFoundError, ValueError) as error:
        fail(error)
    if as_json:
        click.echo(
            json.dumps(
                {"model": result.metrics.to_dict(), "majority": result.majority.to_dict() if result.majority else None},
                indent=2,
            )
        )
        return
    rows = [(result.model_version, result.metrics)]
    if result.majority is not None:
        rows.append(("majority baseline (train half)", result.majority))
    click.echo(metrics_table(rows))


@train.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON Lines file to write.")
@click.option(
    "--cases", "n_cases", default=2000, show_default=True, type=click.IntRange(min=1), help="Simulated cases."
)
@click.option(
    "--templates",
    "n_templates",
    default=40,
    show_default=True,
    type=click.IntRange(min=2, max=960),
    help="Size of the template label set.",
)
@click.option("--seed", default=0, show_default=True, help="The same seed writes the same corpus.")
@click.option(
    "--language",
    type=click.Choice(["plain", "rich"]),
    default="plain",
    show_default=True,
    help="rich: template-specific replies, more request wordings and fillers (docs/training.md).",
)
def corpus(out: Path, n_cases: int, n_templates: int, seed: int, language: str) -> None:
    """Write a simulated training corpus (the JSON Lines format of docs/training.md)."""
    from abkit.simulate.transcripts import generate_transcripts
    from abkit.training.corpus import labelled_examples, parse_cases, write_corpus
    from abkit.training.outputs import OutputError, prepare_parent

    try:
        prepare_parent(out)
    except OutputError as error:
        fail(error)
    records = generate_transcripts(seed, n_cases, n_templates=n_templates, language=language)
    written = write_corpus(out, records)
    examples = labelled_examples(parse_cases(records, source=str(out)))
    labels = len({example.template_id for example in examples})
    click.echo(f"{out}: {written} cases, {len(examples)} labelled messages, {labels} templates used")


@train.command("demo-model")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Serving directory to write."
)
@click.option("--seed", default=0, show_default=True, help="Seeds the simulated corpus, split and initialisation.")
@click.option("--model-version", default="v1", show_default=True)
@click.option("--cases", "n_cases", default=None, type=click.IntRange(min=4), help="Simulated cases (default 2000).")
@click.option(
    "--templates",
    "n_templates",
    default=None,
    type=click.IntRange(min=2, max=960),
    help="Template label set size (default 40).",
)
@click.option("--encoder/--no-encoder", default=True, show_default=True, help="Also train the BERT-style baseline.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="torch CPU threads; the tiny model gains little from more, and loses much on a busy machine.",
)
@DEVICE_OPTION
@QUIET_OPTION
@requires_extra("train", "train")
def demo_model(
    out: Path,
    seed: int,
    model_version: str,
    n_cases: int | None,
    n_templates: int | None,
    encoder: bool,
    threads: int,
    device: str | None,
    quiet: bool,
) -> None:
    """Build a small classifier from simulated transcripts end to end (minutes on a CPU)."""
    from abkit.training.demo import DEMO_CASES, DEMO_TEMPLATES, build_demo_model
    from abkit.training.metrics import metrics_table
    from abkit.training.optim import Runtime

    transformers_logging(quiet)
    set_threads(threads)
    try:
        result = build_demo_model(
            out,
            seed=seed,
            model_version=model_version,
            n_cases=n_cases or DEMO_CASES,  # 0 is refused by the IntRange
            n_templates=n_templates or DEMO_TEMPLATES,
            with_encoder=encoder,
            runtime=Runtime.detect(device),
            progress=not quiet,
        )
    except ValueError as error:  # CorpusError and OutputError among them
        fail(error)
    adaptation = result.adaptation
    click.echo(
        f"adaptation: {adaptation.total_steps} steps, {adaptation.tokens_seen:,} tokens, fill rate {adaptation.fill_rate:.2%}, "
        f"held-out LM loss {adaptation.checkpoints[0].heldout_loss:.3f} -> {adaptation.final.heldout_loss:.3f}"
    )
    report = result.report
    click.echo(
        f"fine-tuning: {report.train_examples} examples from {report.train_cases} cases; held out: {report.test_cases} cases"
    )
    click.echo(metrics_table(report.table_rows()))
    click.echo(f"serving directory: {result.serving_dir}")


train.add_command(scaling)
train.add_command(scaling_demo)
