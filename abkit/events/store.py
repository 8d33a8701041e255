"""Writing and registering events: batched, transactional, idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, Table, insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite

from abkit.events import columns as c
from abkit.events.columns import EventKind
from abkit.events.errors import EventError
from abkit.events.schema import EVENT_TABLES, experiments, metadata, model_versions, rejects
from abkit.events.validate import validate_batch

_ID_LOOKUP_CHUNK = 5_000
_INSERT_CHUNK = 20_000


@dataclass(frozen=True)
class Reject:
    """One refused row: where it was, which field, why."""

    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class WriteResult:
    """Counts from one write; ``accepted + duplicates + rejected`` is the number of rows given."""

    accepted: int
    duplicates: int
    rejected: int
    rejects: tuple[Reject, ...] = field(default=(), repr=False)

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.accepted + other.accepted,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
            self.rejects + other.rejects,
        )


EMPTY_RESULT = WriteResult(0, 0, 0)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class EventStore:
    """The event store on one database.

    Example:
        >>> store = EventStore.open("abkit.sqlite")
        >>> store.write("selection", [{"selection_id": "s1", ...}])
    """

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, target: str, *, create: bool = True) -> EventStore:
        """Open (and by default create the tables of) the store at a path or URL."""
        from abkit.events.engine import connect

        store = cls(connect(target))
        if create:
            store.create_tables()
        return store

    def create_tables(self) -> None:
        """Create missing tables and indexes; existing ones are left as they are."""
        metadata.create_all(self.engine)

    def has_schema(self) -> bool:
        """Whether the event tables exist in this database."""
        names = set(inspect(self.engine).get_table_names())
        return {t.name for t in EVENT_TABLES.values()} <= names

    # -- experiments and model versions -------------------------------------------------

    def register_experiment(self, name: str, salt: str, arms: Sequence[tuple[str, float]]) -> None:
        """Record an experiment definition (upsert by name)."""
        row = {
            "name": name,
            "salt": salt,
            "arms_json": json.dumps([[arm, weight] for arm, weight in arms]),
            "created_at": _utcnow(),
        }
        with self.engine.begin() as conn:
            conn.execute(experiments.delete().where(experiments.c.name == name))
            conn.execute(insert(experiments), [row])

    def known_arms(self) -> dict[str, frozenset[str]]:
        """Arms of every registered experiment, by experiment name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(experiments.c.name, experiments.c.arms_json)).all()
        return {name: frozenset(arm for arm, _ in json.loads(arms)) for name, arms in rows}

    def registered_experiments(self) -> dict[str, tuple[str, list[tuple[str, float]]]]:
        """Registered experiments: name -> (salt, [(arm, weight), ...])."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(experiments.c.name, experiments.c.salt, experiments.c.arms_json)).all()
        return {name: (salt, [(a, float(w)) for a, w in json.loads(arms)]) for name, salt, arms in rows}

    def register_model_version(
        self,
        model_version: str,
        *,
        base_model: str | None = None,
        released_at: datetime | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a model version (upsert by name)."""
        row = {
            c.MODEL_VERSION: model_version,
            "base_model": base_model,
            "released_at": released_at,
            "metadata_json": json.dumps(dict(details or {}), default=str),
        }
        with self.engine.begin() as conn:
            conn.execute(model_versions.delete().where(model_versions.c.model_version == model_version))
            conn.execute(insert(model_versions), [row])

    # -- events -------------------------------------------------------------------------

    def write(
        self,
        kind: EventKind,
        events: Iterable[Mapping[str, Any]] | pl.DataFrame,
        *,
        quarantine: bool = False,
        source: str = "api",
        raw_rows: Sequence[str] | None = None,
    ) -> WriteResult:
        """Write a batch of events of one kind in one transaction.

        Args:
            kind: ``prediction``, ``selection`` or ``case``.
            events: dicts keyed by column name, or a polars DataFrame.
            quarantine: when False (the API's contract) a single malformed event refuses the
                whole batch with :class:`EventError` naming the field; when True (ingest)
                malformed rows go to the ``rejects`` table with their reason, in the same
                transaction as the accepted rows.
            source: where the rows came from, kept with rejects (a file name, "api").
            raw_rows: the original text of each row, kept with rejects when given.

        Returns:
            Accepted, duplicate (id already stored or repeated in the batch) and rejected counts.

        Raises:
            EventError: a malformed event, when ``quarantine`` is False.
        """
        if kind not in EVENT_TABLES:
            raise EventError("kind", f"unknown event kind {kind!r}; expected one of {list(EVENT_TABLES)}")
        frame = events if isinstance(events, pl.DataFrame) else _frame_from_records(events)
        if frame.height == 0:
            return EMPTY_RESULT
        checked = validate_batch(kind, frame, known_arms=self.known_arms())
        rejected_rows = tuple(
            Reject(int(row), str(fld), str(reason))
            for row, fld, reason in checked.rejected.iter_rows()
        )
        if rejected_rows and not quarantine:
            first = rejected_rows[0]
            raise EventError(first.field, first.reason, index=first.row)

        table = EVENT_TABLES[kind]
        id_column = c.ID_COLUMN_BY_KIND[kind]
        valid = checked.valid
        unique = valid.unique(subset=id_column, keep="first", maintain_order=True)
        with self.engine.begin() as conn:
            existing = _existing_ids(conn, table, id_column, unique[id_column].to_list())
            new_rows = unique.filter(~pl.col(id_column).is_in(list(existing))) if existing else unique
            records = new_rows.drop("__row__").to_dicts()
            for start in range(0, len(records), _INSERT_CHUNK):
                conn.execute(_insert_ignoring_duplicates(table, conn.dialect.name), records[start : start + _INSERT_CHUNK])
            if rejected_rows:
                now = _utcnow()
                conn.execute(
                    insert(rejects),
                    [
                        {
                            "event_kind": kind,
                            "source": source,
                            "row_number": r.row + 1,
                            "field": r.field,
                            "reason": r.reason,
                            "raw": raw_rows[r.row] if raw_rows is not None else None,
                            "rejected_at": now,
                        }
                        for r in rejected_rows
                    ],
                )
        accepted = new_rows.height
        return WriteResult(
            accepted=accepted,
            duplicates=valid.height - accepted,
            rejected=len(rejected_rows),
            rejects=rejected_rows,
        )


def _frame_from_records(events: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    rows = [dict(event) for event in events]
    if not rows:
        return pl.DataFrame()
    names: list[str] = []
    for row in rows:
        for key in row:
            if key not in names:
                names.append(key)
    # Build column by column with object-tolerant inference so a stray type is validated,
    # not an exception from the DataFrame constructor.
    data = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            data[name] = pl.Series(name, values, strict=False)
        except (TypeError, ValueError, OverflowError):
            data[name] = pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)
    return pl.DataFrame(data)


def _existing_ids(conn, table: Table, id_column: str, ids: list[str]) -> set[str]:  # type: ignore[no-untyped-def]
    found: set[str] = set()
    column = table.c[id_column]
    for start in range(0, len(ids), _ID_LOOKUP_CHUNK):
        chunk = ids[start : start + _ID_LOOKUP_CHUNK]
        found.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    return found


def _insert_ignoring_duplicates(table: Table, dialect: str):  # type: ignore[no-untyped-def]
    # Ids already stored were filtered out above; ON CONFLICT covers a concurrent writer.
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect in ("postgresql", "duckdb"):
        return postgresql.insert(table).on_conflict_do_nothing()
    return insert(table)
