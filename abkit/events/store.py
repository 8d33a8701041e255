"""Writing and registering events: batched, transactional, idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, insert, inspect, select

from abkit.events import columns as c
from abkit.events.columns import EventKind
from abkit.events.errors import EventError
from abkit.events.insert import insert_new_rows
from abkit.events.schema import EVENT_TABLES, experiments, metadata, model_versions, rejects
from abkit.events.validate import validate_batch


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
        first_row_number: int = 1,
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
            first_row_number: the row number, in its source, of the batch's first row (rejects
                keep ``first_row_number + position``; ingest passes the file's record number).

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
        # No check against the registered experiments' current arms: the standing experiment
        # moves on (holdout/v1, later holdout/v2...) and historical events must still load.
        # validate_batch already requires the arm to be 'holdout' or the row's model_version.
        checked = validate_batch(kind, frame)
        rejected_rows = tuple(
            Reject(int(row), str(fld), str(reason)) for row, fld, reason in checked.rejected.iter_rows()
        )
        if rejected_rows and not quarantine:
            first = rejected_rows[0]
            raise EventError(first.field, first.reason, index=first.row)

        table = EVENT_TABLES[kind]
        id_column = c.ID_COLUMN_BY_KIND[kind]
        valid = checked.valid
        unique = valid.unique(subset=id_column, keep="first", maintain_order=True).drop("__row__")
        with self.engine.begin() as conn:
            accepted = insert_new_rows(conn, table, id_column, unique)
            if rejected_rows:
                now = _utcnow()
                conn.execute(
                    insert(rejects),
                    [
                        {
                            "event_kind": kind,
                            "source": source,
                            "row_number": first_row_number + r.row,
                            "field": r.field,
                            "reason": r.reason,
                            "raw": raw_rows[r.row] if raw_rows is not None else None,
                            "rejected_at": now,
                        }
                        for r in rejected_rows
                    ],
                )
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
