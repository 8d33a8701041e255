"""Reading CSV, JSON Lines and Parquet files in chunks of rows, keeping each row's place and text.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from abkit.events.store import UnreadableRow
from abkit.events.validate import FLOAT_FIELDS, TIME_FIELDS
from abkit.ingest.detect import FileFormat, IngestError

# A quoted CSV field may legitimately be long (a raw transcript); the csv default is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
_COUNT_BLOCK = 1 << 20
# JSON Lines records whose keys tell the file's kind and columns before the load (which reads
# the keys of every record); and the distinct keys a file of events may have (a kind has 19 at most).
JSONL_PLAN_RECORDS = 10_000
MAX_JSON_KEYS = 1_000
# Fields that are not ids or names, whatever the kind (the names are shared by no other field).
_NOT_TEXT = frozenset(name for fields in (*FLOAT_FIELDS.values(), *TIME_FIELDS.values()) for name in fields)


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of one file.

    Attributes:
        frame: the parsed rows, one column per wanted column present in the file (in JSON Lines,
            every wanted column: a record without the key has null there).
        row_numbers: each parsed row's place in the file (line number of CSV and JSON Lines
            records, 1-based row index in Parquet).
        raw: each parsed row's text, rendered on demand (kept only for rejected rows).
        unreadable: rows that could not be parsed into fields, or (JSON) hold an id of the wrong type.
        other_keys: keys of the chunk's JSON records that are not wanted columns (not stored).
    """

    frame: pl.DataFrame
    row_numbers: list[int]
    raw: Sequence[str]
    unreadable: list[UnreadableRow]
    other_keys: frozenset[str] = frozenset()

    @property
    def rows_read(self) -> int:
        return self.frame.height + len(self.unreadable)


def read_columns(path: Path, fmt: FileFormat) -> list[str]:
    """The column names of a file (CSV header, keys of the first JSON objects, Parquet schema).

    Raises:
        IngestError: the header cannot be read in this format.
    """
    if fmt == "csv":
        with _open_text(path) as handle:
            try:
                header = next(csv.reader(handle, strict=True), None)
            except csv.Error as error:
                raise IngestError(f"{path}: the CSV header line cannot be read ({_csv_reason(error)})") from None
        if not header:
            raise IngestError(f"{path}: no CSV header line")
        return _clean_names(header)
    if fmt == "jsonl":
        return _jsonl_keys(path)
    return list(_parquet_file(path).schema_arrow.names)


def _jsonl_keys(path: Path) -> list[str]:
    """The keys of the file's first :data:`JSONL_PLAN_RECORDS` JSON objects, in the order first seen.

    Each record names its own fields, so the columns are the keys of many records, not of the
    first alone: a key the first record leaves out (an optional ``prediction_id``, or a required
    field that record lacks) is still a column when a later record has it. Only a prefix is read
    here, to tell the kind and check its columns before anything is written; the load reads every
    record's keys (a key first seen later is stored, or reported as ignored, just the same). The
    first record must be a JSON object, or the file is not JSON Lines; a later line that is not
    one is left to the load, which rejects it as a row. Keys are taken as written (no trimming),
    since each record's values are looked up by them.

    Raises:
        IngestError: the first record is not a JSON object, or the records hold more than
            :data:`MAX_JSON_KEYS` distinct keys (not a file of events).
    """
    keys: dict[str, None] = {}
    objects = 0
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = _json_loads(line)
            except ValueError as error:
                if objects:
                    continue
                raise IngestError(f"{path}: line {line_number} is not JSON ({error}); not JSON Lines") from None
            if not isinstance(record, dict):
                if objects:
                    continue
                raise IngestError(f"{path}: line {line_number} is not a JSON object; not JSON Lines")
            if not record.keys() <= keys.keys():
                keys.update(dict.fromkeys(record))
                if len(keys) > MAX_JSON_KEYS:
                    raise IngestError(
                        f"{path}: line {line_number}: more than {MAX_JSON_KEYS:,} distinct keys; not a file of events"
                    )
            objects += 1
            if objects == JSONL_PLAN_RECORDS:
                break
    if not objects:
        raise IngestError(f"{path}: no JSON object in the file")
    return list(keys)


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
        yield from _jsonl_chunks(path, wanted, chunk_rows)
    else:
        yield from _parquet_chunks(path, wanted, chunk_rows)


def _json_loads(text: str) -> Any:
    """``json.loads``, with nesting too deep for the parser as a ValueError like any other bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _open_text(path: Path) -> io.TextIOWrapper:
    # errors="replace": bad bytes become U+FFFD, which validation refuses row by row.
    return path.open("r", encoding="utf-8", errors="replace", newline="")


def _clean_names(names: list[Any]) -> list[str]:
    cleaned = [str(name).strip() for name in names]
    if cleaned:
        cleaned[0] = cleaned[0].removeprefix("\ufeff")  # a UTF-8 byte-order mark from spreadsheet exports
    return cleaned


def _string_frame(wanted: Sequence[str], columns: dict[str, list[str | None]]) -> pl.DataFrame:
    return pl.DataFrame({name: columns[name] for name in wanted}, schema=dict.fromkeys(wanted, pl.String))


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


def _csv_reason(error: csv.Error) -> str:
    if str(error) == "unexpected end of data":
        return "a quoted field opened on this line is never closed"
    return str(error)


def _csv_chunks(path: Path, wanted: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    with _open_text(path) as handle:
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
                unreadable.append(UnreadableRow(start, f"unreadable CSV: {_csv_reason(error)}", None))
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
    return Chunk(_string_frame(kept, columns), numbers, _CsvText(rows), unreadable)


def _json_text(value: Any) -> str | None:
    # Everything goes to validation as text, so one odd value never retypes a whole column.
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def _json_type_error(record: dict[str, Any], text_fields: Sequence[str]) -> tuple[str, str] | None:
    """The first id or name of ``record`` that is not a string or an integer, and why."""
    for name in text_fields:
        value = record.get(name)
        if value is None or isinstance(value, str) or type(value) is int:  # type: not bool, an int subclass
            continue
        what = {list: "array", dict: "object", bool: "boolean"}.get(type(value), f"float ({value!r})")
        return name, f"wrong type: a JSON {what}, where text is expected"
    return None


def _jsonl_chunks(path: Path, wanted: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    # An id given as an array, object, boolean or float would become text ("[1]", "true" or "1.0")
    # and be stored as an id; such a row is rejected, naming the field.
    text_fields = [name for name in wanted if name not in _NOT_TEXT]
    wanted_keys = frozenset(wanted)
    records: list[dict[str, Any]] = []
    texts: list[str] = []
    numbers: list[int] = []
    unreadable: list[UnreadableRow] = []
    other_keys: set[str] = set()
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                record = _json_loads(text)
            except ValueError as error:
                unreadable.append(UnreadableRow(line_number, f"not valid JSON: {error}", text))
            else:
                wrong = _json_type_error(record, text_fields) if isinstance(record, dict) else None
                if wrong is not None:
                    unreadable.append(UnreadableRow(line_number, wrong[1], text, field=wrong[0]))
                elif isinstance(record, dict):
                    records.append(record)
                    texts.append(text)
                    numbers.append(line_number)
                    if not record.keys() <= wanted_keys:
                        other_keys.update(record.keys() - wanted_keys)
                else:
                    unreadable.append(UnreadableRow(line_number, "not a JSON object", text))
            if len(records) + len(unreadable) >= chunk_rows:
                yield _jsonl_chunk(wanted, records, texts, numbers, unreadable, other_keys)
                records, texts, numbers, unreadable, other_keys = [], [], [], [], set()
    if records or unreadable:
        yield _jsonl_chunk(wanted, records, texts, numbers, unreadable, other_keys)


def _jsonl_chunk(
    wanted: Sequence[str],
    records: list[dict[str, Any]],
    texts: list[str],
    numbers: list[int],
    unreadable: list[UnreadableRow],
    other_keys: set[str],
) -> Chunk:
    # Every wanted column, whichever records of the chunk have its key: a record without it has
    # null there, so a required field it lacks is rejected as missing, like an empty CSV field,
    # and a key first seen in a later chunk is read like any other.
    columns = {name: [_json_text(record.get(name)) for record in records] for name in wanted}
    return Chunk(_string_frame(wanted, columns), numbers, texts, unreadable, frozenset(other_keys))


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
