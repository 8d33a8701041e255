"""`abkit assign`: holdout buckets for ops staff."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from abkit.assignment.config import ConfigError, ExperimentConfig, load_experiments
from abkit.cli.options import experiments_file_option


def load_or_usage_error(experiments_file: Path) -> dict[str, ExperimentConfig]:
    try:
        return load_experiments(experiments_file)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None


@click.command()
@experiments_file_option()
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
    experiments_file: Path,
    experiment: str,
    units_file: Path | None,
    out: Path | None,
    advocate_id: str | None,
    case_id: str | None,
) -> None:
    """Print the arm of ADVOCATE_ID CASE_ID, or assign every row of --file (CSV out)."""
    experiments = load_or_usage_error(experiments_file)
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
