"""`abkit ingest`: load prediction, selection and case files into the event store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from abkit.events import columns as c
from abkit.events.columns import EVENT_KINDS

_TOP_REASONS = 5
EXIT_DATABASE = 1
EXIT_BAD_FILE = 2
EXIT_REJECTED = 3


@click.command()
@click.option("--db", required=True, envvar="ABKIT_DB", help="Database: a SQLite path or a SQLAlchemy URL ($ABKIT_DB).")
@click.option(
    "--kind",
    type=click.Choice(EVENT_KINDS),
    default=None,
    help="Event kind of every file (default: inferred from each file's columns).",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Rows per transaction; memory use grows with it.",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal, for large files).")
@click.option(
    "--strict",
    "--fail-on-reject",
    "strict",
    is_flag=True,
    help=f"Exit with code {EXIT_REJECTED} when any row was rejected or conflicting (the accepted rows stay stored).",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def ingest(
    db: str, kind: str | None, chunk_rows: int, progress: bool | None, strict: bool, files: tuple[Path, ...]
) -> None:
    """Load FILES (CSV, JSON Lines or Parquet) of predictions, selections or cases.

    Parquet files and duckdb:/// stores need the duckdb extra (pip install 'abkit[duckdb]').

    Every file is checked before anything is written (a Parquet file is decoded in full): a
    file of the wrong format, with missing columns or a corrupt row group stops the run with
    exit code 2. Invalid rows go to the `rejects` table with file, row number, field, reason
    and the row's text. Re-running on the same file stores nothing twice (its rows count as
    duplicates); a row whose id is stored with other content is counted as conflicting and
    filed in `rejects`, and the stored event is kept. Exit codes: 0 done, 1 database error,
    2 a file cannot be ingested, 3 rows were rejected or conflicting and --strict was given.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from abkit.events import EventStore
    from abkit.ingest import IngestError, ingest_file, plan

    try:
        planned = plan(files, kind, chunk_rows=chunk_rows)  # type: ignore[arg-type]
    except IngestError as error:
        _fail(str(error))
    try:
        store = EventStore.open(db)
    except ModuleNotFoundError:
        raise  # a driver of an extra (duckdb:///, postgresql://): the CLI names the extra
    except Exception as error:  # any connection problem ends in one line, not a traceback
        _fail(f"--db {db}: cannot open the database ({type(error).__name__}: {str(error).splitlines()[0]})")
    totals = [0, 0, 0, 0, 0]
    for item in planned:
        for column in item.ignored_columns:
            _ignored_notice(item.path, column, item.kind)
        try:
            result = ingest_file(store, item, chunk_rows=chunk_rows, progress=progress)
        except SQLAlchemyError as error:
            # Chunks before the failure are committed; a re-run skips them as duplicates.
            click.echo(
                f"error: {item.path}: database error ({str(error).splitlines()[0]}); "
                "chunks already written stay stored; run again to finish",
                err=True,
            )
            sys.exit(EXIT_DATABASE)
        except IngestError as error:  # the file changed after it was checked
            _fail(f"{error}; chunks already written stay stored")
        for column in result.ignored_columns[len(item.ignored_columns) :]:  # JSON keys first seen while loading
            _ignored_notice(item.path, column, item.kind)
        click.echo(
            f"{result.path}: {result.kind}, {result.rows_read} rows read: {result.accepted} accepted, "
            f"{result.duplicates} duplicate, {result.conflicts} conflicting, {result.rejected} rejected"
        )
        if result.conflicts:
            click.echo(
                f"  conflicting {result.conflicts}: {c.ID_COLUMN_BY_KIND[item.kind]} stored already with other "
                "content; the stored event is kept, see the rejects table"
            )
        for field, reason, count in result.reasons[:_TOP_REASONS]:
            click.echo(f"  rejected {count}: {field}: {reason}")
        if len(result.reasons) > _TOP_REASONS:
            click.echo(f"  ... {len(result.reasons) - _TOP_REASONS} more reasons; see the rejects table")
        counts = (result.rows_read, result.accepted, result.duplicates, result.conflicts, result.rejected)
        for index, value in enumerate(counts):
            totals[index] += value
    read, accepted, duplicates, conflicts, rejected = totals
    if len(planned) > 1:
        click.echo(
            f"total: {read} rows read: {accepted} accepted, {duplicates} duplicate, "
            f"{conflicts} conflicting, {rejected} rejected"
        )
    if strict and (rejected or conflicts):
        click.echo(
            f"error: {rejected} rows rejected, {conflicts} conflicting (--strict); see the rejects table", err=True
        )
        sys.exit(EXIT_REJECTED)


def _ignored_notice(path: Path, column: str, kind: str) -> None:
    click.echo(f"{path}: column {column!r} is not a {kind} column; ignored", err=True)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_FILE)
