"""`abkit assign`: holdout buckets for ops staff (and the experiments file option `abkit experiments` shares)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from abkit.assignment.config import DEFAULT_EXPERIMENTS_FILE, ConfigError, ExperimentConfig, load_experiments

_EXPERIMENTS_FILE = click.option(
    "--experiments-file",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_EXPERIMENTS_FILE,
    show_default=True,
    envvar="ABKIT_EXPERIMENTS",
    help="Experiments file (TOML); also read from $ABKIT_EXPERIMENTS.",
)
# The name `abkit assign` had before it matched `abkit serve`'s --experiments-file: accepted, not shown.
_LEGACY_CONFIG = click.option(
    "--config", "legacy_config_path", type=click.Path(dir_okay=False, path_type=Path), default=None, hidden=True
)


def experiments_file_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--experiments-file FILE`` (and the deprecated ``--config FILE``) as the ``config_path`` argument."""

    @functools.wraps(command)
    def with_experiments_file(*args: Any, config_path: Path, legacy_config_path: Path | None, **kwargs: Any) -> Any:
        if legacy_config_path is not None:
            click.echo("warning: --config is deprecated; use --experiments-file", err=True)
            config_path = legacy_config_path
        return command(*args, config_path=config_path, **kwargs)

    return _EXPERIMENTS_FILE(_LEGACY_CONFIG(with_experiments_file))


def load_or_usage_error(config_path: Path) -> dict[str, ExperimentConfig]:
    try:
        return load_experiments(config_path)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


@click.command()
@experiments_file_option
@click.option("--experiment", "-e", required=True, help="Experiment name from the config file.")
@click.option(
    "--file",
    "units_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with advocate_id and case_id columns.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the CSV (default: standard output)."
)
@click.argument("advocate_id", required=False)
@click.argument("case_id", required=False)
def assign(
    config_path: Path,
    experiment: str,
    units_file: Path | None,
    out: Path | None,
    advocate_id: str | None,
    case_id: str | None,
) -> None:
    """Print the arm of ADVOCATE_ID CASE_ID, or assign every row of --file (CSV out)."""
    experiments = load_or_usage_error(config_path)
    if experiment not in experiments:
        raise click.UsageError(f"unknown experiment {experiment!r}; configured: {', '.join(sorted(experiments))}")
    config = experiments[experiment]
    if units_file is None:
        if advocate_id is None or case_id is None:
            raise click.UsageError("give ADVOCATE_ID CASE_ID, or --file units.csv")
        try:
            click.echo(config.assign(advocate_id, case_id))
        except ValueError as error:
            raise click.UsageError(str(error)) from None
        return
    if advocate_id is not None:
        raise click.UsageError("give either ADVOCATE_ID CASE_ID or --file, not both")
    from abkit.assignment.bulk import assign_csv

    try:
        count = assign_csv(config, units_file, out)
    except (ValueError, FileNotFoundError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    if out is not None:
        click.echo(f"assigned {count} units -> {out}", err=True)
