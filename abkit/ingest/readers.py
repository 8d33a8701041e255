"""Reading CSV, JSON Lines and Parquet files in chunks of rows, keeping each row's place and text.

JSON Lines has its own module, :mod:`abkit.ingest.jsonl`; this one dispatches on the format.

Readers hand the event store strings (CSV, JSON Lines) or typed columns (Parquet) and leave
all judgement of values to :func:`abkit.events.validate.validate_batch`; what they catch
themselves is a row that cannot be split into fields at all (a CSV line with the wrong number
of fields, a JSON line that is not an object), returned as an :class:`UnreadableRow`.

Invalid UTF-8 is decoded with U+FFFD in place of the bad bytes, which validation refuses
with "not valid UTF-8", so such a row becomes a reject instead of failing the file.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from abkit.events.store import UnreadableRow
from abkit.ingest.chunk import Chunk, open_text, string_frame
from abkit.ingest.detect import FileFormat, IngestError
from abkit.ingest.jsonl import jsonl_chunks, jsonl_keys
from abkit.text.checks import csv_error_reason

# A quoted CSV field may legitimately be long (a raw transcript); the csv default is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
_COUNT_BLOCK = 1 << 20


def read_columns(path: Path, fmt: FileFormat) -> list[str]:
    """The column names of a file (CSV header, keys of the first JSON objects, Parquet schema).

    Raises:
        IngestError: the header cannot be read in this format.
    """
    if fmt == "csv":
        with open_text(path) as handle:
            try:
                header = next(csv.reader(handle, strict=True), None)
            except csv.Error as error:
                raise IngestError(f"{path}: the CSV header line cannot be read ({csv_error_reason(error)})") from None
        if not header:
            raise IngestError(f"{path}: no CSV header line")
        return _clean_names(header)
    if fmt == "jsonl":
        return jsonl_keys(path)
    return list(_parquet_file(path).schema_arrow.names)


def count_rows(path: Path, fmt: FileFormat) -> int:
    """Rows in the file, cheaply: exact for Parquet, newline count for text (for the progress bar)."""
    if fmt == "parquet":
        return _parquet_file(path).metadata.num_rows
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(_COUNT_BLOCK):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"  # a last line without a newline
    return max(0, lines - 1) if fmt == "csv" else lines


def read_chunks(path: Path, fmt: FileFormat, wanted: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    """Yield the file's rows in chunks of at most ``chunk_rows``, keeping only ``wanted`` columns."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows: must be at least 1, got {chunk_rows}")
    if fmt == "csv":
        yield from _csv_chunks(path, wanted, chunk_rows)
    elif fmt == "jsonl":
        yield from jsonl_chunks(path, wanted, chunk_rows)
    else:
        yield from _parquet_chunks(path, wanted, chunk_rows)


def _clean_names(names: list[Any]) -> list[str]:
    cleaned = [str(name).strip() for name in names]
    if cleaned:
        cleaned[0] = cleaned[0].removeprefix("\ufeff")  # a UTF-8 byte-order mark from spreadsheet exports
    return cleaned


class _CsvText(Sequence[str]):
    """Rows rendered back to CSV text only when asked for (only rejected rows are)."""

    def __init__(self, rows: list[list[str]]):
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        buffer = io.StringIO()
        # "\n" as terminator so that fields holding a newline are quoted; then drop it.
        csv.writer(buffer, lineterminator="\n").writerow(self._rows[index])
        return buffer.getvalue()[:-1]


def _csv_chunks(path: Path, wanted: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    with open_text(path) as handle:
        # strict: a quote never closed is an error at the end of the file, not a field that
        # silently holds every line after it; text after a closing quote ("c1"x) is an error
        # too, not glued onto the field. Either way the row is rejected with its line.
        reader = csv.reader(handle, strict=True)
        header = _clean_names(next(reader))
        positions = [(name, header.index(name)) for name in wanted if name in header]
        kept = [name for name, _ in positions]
        width = len(header)
        rows: list[list[str]] = []
        numbers: list[int] = []
        unreadable: list[UnreadableRow] = []
        line = reader.line_num
        while True:
            start = line + 1
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                line = reader.line_num
                unreadable.append(UnreadableRow(start, f"unreadable CSV: {csv_error_reason(error)}", None))
                continue
            line = reader.line_num
            if not fields:
                continue  # a blank line is not a row
            if len(fields) != width:
                text = _CsvText([fields])[0]
                unreadable.append(UnreadableRow(start, f"expected {width} fields, found {len(fields)}", text))
            else:
                rows.append(fields)
                numbers.append(start)
            if len(rows) + len(unreadable) >= chunk_rows:
                yield _csv_chunk(kept, positions, rows, numbers, unreadable)
                rows, numbers, unreadable = [], [], []
        if rows or unreadable:
            yield _csv_chunk(kept, positions, rows, numbers, unreadable)


def _csv_chunk(
    kept: list[str],
    positions: list[tuple[str, int]],
    rows: list[list[str]],
    numbers: list[int],
    unreadable: list[UnreadableRow],
) -> Chunk:
    columns: dict[str, list[str | None]] = {name: [row[index] for row in rows] for name, index in positions}
    return Chunk(string_frame(kept, columns), numbers, _CsvText(rows), unreadable)


def _parquet_file(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # Pages written with a CRC (pyarrow's write_page_checksum, Spark's default) are checked,
        # so corruption that would still decode is caught; pages without one are read as they are.
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as error:
        raise IngestError(f"{path}: not a readable Parquet file ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def verify_parquet(path: Path, wanted: Sequence[str], batch_rows: int) -> None:
    """Decode every row group of the ``wanted`` columns, so a corrupt file fails before any write.

    The loader commits one transaction per chunk; without this pass a file whose middle row
    group is corrupt would leave the rows before it stored. Memory stays at one batch.

    Raises:
        IngestError: a row group cannot be read, naming it and its rows.
    """
    import pyarrow as pa

    parquet = _parquet_file(path)
    kept = [name for name in wanted if name in parquet.schema_arrow.names]
    metadata = parquet.metadata
    first = 1
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        try:
            for _ in parquet.iter_batches(batch_size=batch_rows, row_groups=[group], columns=kept):
                pass
        except (pa.ArrowException, OSError) as error:
            raise IngestError(
                f"{path}: corrupt Parquet row group {group + 1} of {metadata.num_row_groups} "
                f"(rows {first}-{first + rows - 1}): {_first_line(error)}"
            ) from None
        first += rows


class _RecordText(Sequence[str]):
    """Parquet rows rendered as JSON only when asked for (only rejected rows are)."""

    def __init__(self, frame: pl.DataFrame):
        self._frame = frame

    def __len__(self) -> int:
        return self._frame.height

    def __getitem__(self, index):
        return json.dumps(self._frame.row(index, named=True), default=str)


def _parquet_chunks(path: Path, wanted: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow as pa

    parquet = _parquet_file(path)
    kept = [name for name in wanted if name in parquet.schema_arrow.names]
    first = 1
    batches = parquet.iter_batches(batch_size=chunk_rows, columns=kept)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as error:  # the file changed after verify_parquet passed
            raise IngestError(f"{path}: Parquet unreadable after row {first - 1}: {_first_line(error)}") from None
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield Chunk(frame, list(range(first, first + frame.height)), _RecordText(frame), [])
        first += frame.height
