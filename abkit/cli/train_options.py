"""Options and set-up shared by the `abkit train` commands (abkit.cli.train, abkit.cli.train_scaling)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from abkit.training.config import SizeConfig
    from abkit.training.corpus import Case
    from abkit.training.optim import Runtime


SIZE_OPTION = click.option(
    "--size",
    default="tiny",
    show_default=True,
    help="Model size config: tiny, pythia-410m, pythia-1.4b, pythia-2.8b, or a path to a TOML file.",
)
DATA_OPTION = click.option(
    "--data",
    "data_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Transcripts as JSON Lines, one case per line (docs/training.md).",
)
SPLIT_SEED_OPTION = click.option(
    "--split-seed", default=0, show_default=True, help="Seed of the 50/50 case-level split shared by both phases."
)
DEVICE_OPTION = click.option("--device", default=None, help="torch device (default: cuda when present, else cpu).")
QUIET_OPTION = click.option("--quiet", "-q", is_flag=True, help="No progress bars.")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


THREADS_OPTION = click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=available_cores,
    show_default="the cores available",
    help="torch CPU threads (torch.set_num_threads); set it on a busy machine, where threads wait for each other.",
)


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def fail(error: Exception) -> NoReturn:
    click.echo(f"error: {error}", err=True)
    sys.exit(2)


def transformers_logging(quiet: bool) -> None:
    """Hide transformers' load reports (a new classification head is expected), and its bars with
    --quiet or when standard error is not a terminal (a log)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    if quiet or not sys.stderr.isatty():
        hf_logging.disable_progress_bar()


def setup_training(
    size: str, data_file: Path | None, device: str | None, quiet: bool, threads: int
) -> tuple[SizeConfig, list[Case], Runtime]:
    """Quiet transformers, set the threads, read the size config and the corpus, pick the device."""
    from abkit.training.config import ConfigError, load_size_config
    from abkit.training.corpus import CorpusError, read_corpus
    from abkit.training.optim import Runtime

    transformers_logging(quiet)
    set_threads(threads)
    try:
        config = load_size_config(size)
        cases = read_corpus(data_file) if data_file is not None else []
    except (ConfigError, CorpusError) as error:
        fail(error)
    return config, cases, Runtime.detect(device)


def check_run_out(out: Path, *, resuming: bool) -> None:
    """Create an adaptation run directory before training; refuse one that holds another run's
    checkpoints (``abkit train scaling`` would read both runs as one) unless resuming into it."""
    from abkit.training.outputs import OutputError, prepare_dir

    try:
        prepare_dir(out)
    except OutputError as error:
        fail(error)
    existing = sorted(path.name for path in out.glob("checkpoint-*"))
    if existing and not resuming:
        fail(
            ValueError(
                f"--out {out} already holds an adaptation run ({', '.join(existing[:3])}"
                f"{', ...' if len(existing) > 3 else ''}): choose a new directory, or --resume one of its checkpoints"
            )
        )
