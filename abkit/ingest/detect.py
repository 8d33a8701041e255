"""What a file is: its format (CSV, JSON Lines, Parquet) and which event kind its columns hold.

Everything here runs before anything is written, so a file that is not the right format at
all is refused with a one-line :class:`IngestError` and leaves the database untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from abkit.events import columns as c
from abkit.events.columns import EVENT_KINDS, EventKind

FileFormat = Literal["csv", "jsonl", "parquet"]

EXTENSIONS: Final[dict[str, FileFormat]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# Leading bytes of formats people rename by mistake; none of them is a text file.
_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (xlsx, docx, zip)"),
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"BZh", "bzip2-compressed data (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data (decompress it first)"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"\x7fELF", "an executable"),
)
_SNIFF_BYTES = 64 * 1024

# Columns a file must have for its kind; the others may be left out (they are nullable).
REQUIRED_COLUMNS: Final[dict[EventKind, tuple[str, ...]]] = {
    "prediction": tuple(
        name for name in c.PREDICTION_COLUMNS if name not in (*c.TEMPLATE_ID_COLUMNS[1:], *c.SCORE_COLUMNS[1:])
    ),
    "selection": tuple(name for name in c.SELECTION_COLUMNS if name != c.PREDICTION_ID),
    "case": c.CASE_COLUMNS,
}


class IngestError(ValueError):
    """A file that cannot be ingested at all (wrong format, wrong columns); one line, naming the file."""


def detect_format(path: Path) -> FileFormat:
    """The format of ``path``, from its extension, after checking its first bytes agree.

    Raises:
        IngestError: missing or empty file, unknown extension, or content of another format.
    """
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: empty file")
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise IngestError(f"{path}: unknown file type {path.suffix or '(no extension)'!r}; expected one of {known}")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if fmt == "parquet":
        if not head.startswith(b"PAR1"):
            raise IngestError(f"{path}: not a Parquet file (no PAR1 header)")
        return fmt
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise IngestError(f"{path}: this is {what}, not {'CSV' if fmt == 'csv' else 'JSON Lines'}")
    if b"\x00" in head:
        raise IngestError(f"{path}: binary data (NUL bytes), not {'CSV' if fmt == 'csv' else 'JSON Lines'}")
    return fmt


def missing_columns(kind: EventKind, columns: list[str]) -> list[str]:
    """Required columns of ``kind`` that ``columns`` lacks, in schema order."""
    present = set(columns)
    return [name for name in REQUIRED_COLUMNS[kind] if name not in present]


def infer_kind(path: Path, columns: list[str]) -> EventKind:
    """The one event kind whose required columns ``columns`` holds.

    Raises:
        IngestError: no kind matches (naming the closest kind's missing columns) or several do.
    """
    matches = [kind for kind in EVENT_KINDS if not missing_columns(kind, columns)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise IngestError(f"{path}: columns fit several kinds ({', '.join(matches)}); pass --kind")
    closest = min(EVENT_KINDS, key=lambda kind: len(missing_columns(kind, columns)))
    shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    raise IngestError(
        f"{path}: columns ({shown}) match no event kind; "
        f"closest is {closest}, missing {', '.join(missing_columns(closest, columns))}"
    )


def check_columns(path: Path, kind: EventKind, columns: list[str]) -> None:
    """Refuse a file that lacks a required column of ``kind``, or repeats a column name.

    Raises:
        IngestError: naming the missing or repeated columns.
    """
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise IngestError(f"{path}: repeated column(s) {', '.join(repeated)}")
    missing = missing_columns(kind, columns)
    if missing:
        raise IngestError(f"{path}: not a {kind} file: missing column(s) {', '.join(missing)}")


def extra_columns(kind: EventKind, columns: list[str]) -> list[str]:
    """Columns of the file that are not columns of ``kind`` (ignored on ingest)."""
    known = set(c.COLUMNS_BY_KIND[kind])
    return [name for name in columns if name not in known]
