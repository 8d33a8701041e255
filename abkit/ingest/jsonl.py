"""Reading JSON Lines: the keys that make a file's columns, and its records in chunks.

Each record names its own fields, so a file's columns are the keys of its records together.
Every value goes to validation as text (an id given as an array, object, boolean or float is
refused here, naming the field), so one odd value never retypes a whole column.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from abkit.events.store import UnreadableRow
from abkit.events.validate import FLOAT_FIELDS, TIME_FIELDS
from abkit.ingest.chunk import Chunk, open_text, string_frame
from abkit.ingest.detect import IngestError

# JSON Lines records whose keys tell the file's kind and columns before the load (which reads
# the keys of every record); and the distinct keys a file of events may have (a kind has 19 at most).
JSONL_PLAN_RECORDS = 10_000
MAX_JSON_KEYS = 1_000
_PLAIN = json.JSONDecoder()
# Fields that are not ids or names, whatever the kind (the names are shared by no other field).
_NOT_TEXT = frozenset(name for fields in (*FLOAT_FIELDS.values(), *TIME_FIELDS.values()) for name in fields)


def jsonl_keys(path: Path) -> list[str]:
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
    with open_text(path) as handle:
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


def _json_loads(text: str, decoder: json.JSONDecoder = _PLAIN) -> Any:
    """``json.loads``, with nesting too deep for the parser as a ValueError like any other bad JSON."""
    try:
        return decoder.decode(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


class _RecordDecoder(json.JSONDecoder):
    """A JSON decoder that notes a key repeated in the outermost object, which ``json`` resolves
    silently by keeping the last value.

    The pairs hook runs for every object, innermost first, so after :meth:`decode` of a record
    :attr:`repeated` belongs to the record itself: a repeat inside a nested value (which no
    field is read from) does not count.
    """

    def __init__(self) -> None:
        super().__init__(object_pairs_hook=self._pairs)
        self.repeated: str | None = None

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        record = dict(pairs)
        self.repeated = None if len(record) == len(pairs) else _first_repeated(pairs)
        return record


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no repeated key")  # only called when dict(pairs) lost one


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


def jsonl_chunks(path: Path, wanted: Sequence[str], chunk_rows: int) -> Iterator[Chunk]:
    # An id given as an array, object, boolean or float would become text ("[1]", "true" or "1.0")
    # and be stored as an id; such a row is rejected, naming the field.
    text_fields = [name for name in wanted if name not in _NOT_TEXT]
    wanted_keys = frozenset(wanted)
    records: list[dict[str, Any]] = []
    texts: list[str] = []
    numbers: list[int] = []
    unreadable: list[UnreadableRow] = []
    other_keys: set[str] = set()
    decoder = _RecordDecoder()
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                record = _json_loads(text, decoder)
            except ValueError as error:
                unreadable.append(UnreadableRow(line_number, f"not valid JSON: {error}", text))
            else:
                if not isinstance(record, dict):
                    unreadable.append(UnreadableRow(line_number, "not a JSON object", text))
                elif decoder.repeated is not None:  # which of its values is meant cannot be told
                    key = decoder.repeated
                    field = key if key in wanted_keys else "row"
                    unreadable.append(UnreadableRow(line_number, f"duplicate key {key!r}", text, field=field))
                elif (wrong := _json_type_error(record, text_fields)) is not None:
                    unreadable.append(UnreadableRow(line_number, wrong[1], text, field=wrong[0]))
                else:
                    records.append(record)
                    texts.append(text)
                    numbers.append(line_number)
                    if not record.keys() <= wanted_keys:
                        other_keys.update(record.keys() - wanted_keys)
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
    return Chunk(string_frame(wanted, columns), numbers, texts, unreadable, frozenset(other_keys))
