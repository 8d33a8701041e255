"""`abkit experiments`: list the experiments file, record it as phases, show the phase history."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click

from abkit.assignment.config import ExperimentConfig
from abkit.cli.assign import load_or_usage_error
from abkit.cli.options import experiments_file_option

DB_OPTION = click.option(
    "--db", default=None, envvar="ABKIT_DB", help="Event store: SQLite path or database URL (also $ABKIT_DB)."
)


def parse_timestamp(text: str, option: str = "--at") -> datetime:
    """An ISO 8601 timestamp as naive UTC: an offset (or Z) is converted, none means UTC.

    Raises:
        click.UsageError: not a timestamp.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.UsageError(
            f"{option}: {text!r} is not an ISO 8601 timestamp (e.g. 2026-03-02T09:00:00Z or 2026-03-02)"
        ) from None
    try:
        return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment
    except OverflowError:
        raise click.UsageError(f"{option}: {text!r} is before year 1 or after year 9999 in UTC") from None


def weights_text(arms: Sequence[tuple[str, float]]) -> str:
    return " ".join(f"{arm}={weight:g}" for arm, weight in arms)


def _need_db(db: str | None, what: str) -> str:
    if not db:
        raise click.UsageError(f"{what} needs --db URL (or $ABKIT_DB)")
    return db


def _selected(configured: dict[str, ExperimentConfig], names: tuple[str, ...], source: Path) -> list[ExperimentConfig]:
    unknown = sorted(set(names) - set(configured))
    if unknown:
        raise click.UsageError(f"unknown experiment {unknown[0]!r}; {source} has {', '.join(sorted(configured))}")
    return [configured[name] for name in sorted(configured) if not names or name in names]


def _fail_on_database(db: str, error: Exception) -> click.ClickException:
    detail = str(error).splitlines()[0] if str(error) else type(error).__name__
    return click.ClickException(f"--db {db}: {type(error).__name__}: {detail}")


@click.group(invoke_without_command=True)
@experiments_file_option()
@DB_OPTION
@click.option("--history", is_flag=True, help="List every recorded phase of the experiments in --db.")
@click.option("--experiment", "-e", "names", multiple=True, help="With --history: only this experiment (repeatable).")
@click.pass_context
def experiments(
    ctx: click.Context, experiments_file: Path, db: str | None, history: bool, names: tuple[str, ...]
) -> None:
    """List the experiments file (salt, weights), or with --history the phases recorded in --db.

    `abkit experiments apply` records the file's definitions as phases.
    """
    if ctx.invoked_subcommand is not None:
        return
    writer = csv.writer(sys.stdout, lineterminator="\n", delimiter="\t")
    if not history:
        if names:
            raise click.UsageError("--experiment filters --history")
        writer.writerow(["experiment", "salt", "arms"])
        for name, config in sorted(load_or_usage_error(experiments_file).items()):
            writer.writerow([name, config.salt, weights_text(config.arms)])
        return
    phases = _read_phases(_need_db(db, "--history"))
    recorded = {phase.experiment for phase in phases}
    unknown = sorted(set(names) - recorded)
    if unknown:
        listed = ", ".join(sorted(recorded)) or "none"
        raise click.UsageError(f"no phases recorded for experiment {unknown[0]!r}; recorded: {listed}")
    writer.writerow(["experiment", "phase", "started_at", "salt", "arms"])
    for phase in phases:
        if not names or phase.experiment in names:
            started = phase.started_at.isoformat(sep=" ", timespec="seconds")
            writer.writerow([phase.experiment, phase.phase, started, phase.salt, weights_text(phase.arms)])
    if not phases:
        click.echo(
            "no experiment phases recorded yet: `abkit experiments apply` records the experiments file", err=True
        )


def _read_phases(db: str):
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from abkit.events import EventStore
    from abkit.events.engine import connect

    if "://" not in db and not Path(db).exists():
        raise click.UsageError(f"--db: no database file at {db}")
    try:
        engine = connect(db, read_only=True)
        with EventStore(engine) as store:
            if "experiment_phases" not in inspect(engine).get_table_names():
                return []
            return store.experiment_phases()
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    except SQLAlchemyError as error:
        raise _fail_on_database(db, error) from None


@experiments.command()
@experiments_file_option()
@DB_OPTION
@click.option(
    "--at",
    "at_text",
    default=None,
    help="When the definitions took effect: ISO 8601, UTC unless an offset is given (default: now).",
)
@click.option("--experiment", "-e", "names", multiple=True, help="Only this experiment of the file (repeatable).")
def apply(experiments_file: Path, db: str | None, at_text: str | None, names: tuple[str, ...]) -> None:
    """Record the experiments file's definitions in --db: a new phase for each changed one.

    An experiment whose salt and weights are those of its latest phase is left unchanged, so
    applying the same file twice records nothing the second time. All are recorded, or none.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from abkit.events import EventStore
    from abkit.events.phases import PhaseError

    database = _need_db(db, "apply")
    at = parse_timestamp(at_text) if at_text is not None else None
    chosen = _selected(load_or_usage_error(experiments_file), names, experiments_file)
    try:
        with EventStore.open(database) as store:
            results = store.apply_experiments(chosen, at)  # all of them, or none
    except PhaseError as error:
        raise click.ClickException(str(error)) from None
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    except SQLAlchemyError as error:
        raise _fail_on_database(database, error) from None
    for config, applied in zip(chosen, results, strict=True):
        started = applied.started_at.isoformat(sep=" ", timespec="seconds")
        if applied.created:
            click.echo(f"{config.name}: new phase {applied.phase} from {started} ({weights_text(config.arms)})")
        else:
            click.echo(f"{config.name}: unchanged (phase {applied.phase}, since {started})")
