"""An ingest run: check every file first, then load each in chunks, one transaction per chunk.

Checking all files before the first write means a run with one wrong file writes nothing.
Within a file, every chunk commits on its own, so memory stays flat and an interrupted run
can simply be repeated: rows already stored count as duplicates the second time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from abkit.events import columns as c
from abkit.events.columns import EVENT_KINDS, EventKind
from abkit.events.store import EventStore
from abkit.ingest import jsonl
from abkit.ingest.detect import (
    FileFormat,
    IngestError,
    check_columns,
    detect_format,
    extra_columns,
    infer_kind,
)
from abkit.ingest.readers import count_rows, read_chunks, read_columns, verify_parquet

DEFAULT_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class PlannedFile:
    """A file that passed the checks: its format, event kind and the columns it has."""

    path: Path
    fmt: FileFormat
    kind: EventKind
    columns: tuple[str, ...]

    @property
    def ignored_columns(self) -> list[str]:
        """Columns of the file that are not columns of its kind (not stored)."""
        return extra_columns(self.kind, list(self.columns))


@dataclass(frozen=True)
class FileResult:
    """What happened to one file; ``accepted + duplicates + conflicts + rejected == rows_read``.

    Attributes:
        duplicates: rows whose event is stored already with the same content (a re-run).
        conflicts: rows whose id is stored with other content: not written (the stored
            event is kept) and filed in ``rejects`` with the fields that differ.
        reasons: ``(field, reason, count)`` of rejected rows, most frequent first; a reason
            is cut at its first ": " so that rows refused for the same cause group together.
        ignored_columns: columns of the file that are not columns of its kind (not stored):
            :attr:`PlannedFile.ignored_columns`, then the keys of JSON Lines records read after
            the ones the plan looked at (at most :data:`~abkit.ingest.jsonl.MAX_JSON_KEYS` in all).
    """

    path: Path
    kind: EventKind
    rows_read: int
    accepted: int
    duplicates: int
    rejected: int
    reasons: tuple[tuple[str, str, int], ...] = field(default=())
    conflicts: int = 0
    ignored_columns: tuple[str, ...] = ()


def plan(
    paths: Sequence[str | Path], kind: EventKind | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> list[PlannedFile]:
    """Check every file (exists, format, columns, kind) before anything is written.

    A Parquet file is also decoded in full (the columns of its kind), since a corrupt row group
    found while loading would leave the chunks before it committed.

    Args:
        paths: CSV (``.csv``), JSON Lines (``.jsonl``, ``.ndjson``, ``.json``) or Parquet files.
        kind: the event kind of every file; inferred from each file's columns when None.

    Raises:
        IngestError: the first file that cannot be ingested, in one line.
    """
    if not paths:
        raise IngestError("no files given")
    if kind is not None and kind not in EVENT_KINDS:
        raise IngestError(f"--kind: unknown event kind {kind!r}; expected one of {', '.join(EVENT_KINDS)}")
    planned = []
    for given in paths:
        path = Path(given)
        fmt = detect_format(path)
        columns = read_columns(path, fmt)
        try:
            file_kind = kind if kind is not None else infer_kind(path, columns)
            check_columns(path, file_kind, columns)
        except IngestError as error:
            if fmt != "jsonl":
                raise
            raise IngestError(f"{error} (the keys of its first {jsonl.JSONL_PLAN_RECORDS:,} records)") from None
        if fmt == "parquet":
            verify_parquet(path, c.COLUMNS_BY_KIND[file_kind], chunk_rows)
        planned.append(PlannedFile(path, fmt, file_kind, tuple(columns)))
    return planned


def ingest_file(
    store: EventStore,
    planned: PlannedFile,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool | None = None,
) -> FileResult:
    """Load one checked file into ``store``; bad rows go to the ``rejects`` table.

    Args:
        store: the event store to write to.
        planned: a file returned by :func:`plan`.
        chunk_rows: rows per chunk; each chunk is one transaction.
        progress: show a progress bar (None: only for files over one chunk on a terminal).

    Rejects are stored with the file's absolute path as ``source``; those of an earlier
    ingest of the same file are replaced.
    """
    wanted = c.COLUMNS_BY_KIND[planned.kind]
    total = count_rows(planned.path, planned.fmt)
    disable = (total <= chunk_rows or None) if progress is None else not progress
    source = str(planned.path.resolve())
    # The rejects table keeps each file's rejects from its latest ingest, not one copy per run.
    store.clear_rejects(source)
    accepted = duplicates = conflicts = rejected = rows_read = 0
    reasons: Counter[tuple[str, str]] = Counter()
    ignored = dict.fromkeys(planned.ignored_columns)
    with tqdm(total=total, unit="rows", unit_scale=True, desc=planned.path.name, disable=disable, leave=False) as bar:
        for chunk in read_chunks(planned.path, planned.fmt, wanted, chunk_rows):
            result = store.write(
                planned.kind,
                chunk.frame,
                quarantine=True,
                source=source,
                raw_rows=chunk.raw,
                row_numbers=chunk.row_numbers,
                unreadable=chunk.unreadable,
            )
            accepted += result.accepted
            duplicates += result.duplicates
            conflicts += result.conflicts
            rejected += result.rejected
            rows_read += chunk.rows_read
            reasons.update((r.field, _reason_group(r.reason)) for r in result.rejects)
            reasons.update((u.field, _reason_group(u.reason)) for u in chunk.unreadable)
            for key in sorted(chunk.other_keys - ignored.keys()):  # JSON keys the plan did not see
                if len(ignored) < jsonl.MAX_JSON_KEYS:
                    ignored[key] = None
            bar.update(chunk.rows_read)
    ordered = tuple(
        (fld, reason, n) for (fld, reason), n in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    )
    return FileResult(
        planned.path, planned.kind, rows_read, accepted, duplicates, rejected, ordered, conflicts, tuple(ignored)
    )


def _reason_group(reason: str) -> str:
    return reason.split(": ", 1)[0]


def ingest_paths(
    store: EventStore,
    paths: Sequence[str | Path],
    *,
    kind: EventKind | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: bool | None = None,
) -> list[FileResult]:
    """Check all ``paths``, then load them one after another.

    Raises:
        IngestError: a file cannot be ingested at all; nothing has been written then.
    """
    planned = plan(paths, kind, chunk_rows=chunk_rows)
    return [ingest_file(store, item, chunk_rows=chunk_rows, progress=progress) for item in planned]


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FileResult",
    "IngestError",
    "PlannedFile",
    "ingest_file",
    "ingest_paths",
    "plan",
]
