"""Writing and registering events: batched, transactional, idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, insert, inspect, select

from abkit.assignment.config import ExperimentConfig
from abkit.events import columns as c
from abkit.events.columns import EventKind
from abkit.events.conflicts import Conflict, find_conflicts
from abkit.events.errors import EventError
from abkit.events.insert import insert_new_rows
from abkit.events.phases import (
    Applied,
    Definition,
    ExperimentPhase,
    apply_definition,
    apply_definitions,
    list_phases,
)
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
    """Counts from one write; ``accepted + duplicates + conflicts + rejected`` is the number of rows given.

    ``duplicates`` are true duplicates (the same event again); ``conflicts`` reuse a stored id
    with other content and are not written (see :mod:`abkit.events.conflicts`). ``rejects``
    lists the rows refused by validation (``row`` is their 0-based position in the batch);
    ``rejected`` also counts the unreadable rows passed to :meth:`EventStore.write`.
    """

    accepted: int
    duplicates: int
    rejected: int
    rejects: tuple[Reject, ...] = field(default=(), repr=False)
    conflicts: int = 0
    conflicting: tuple[Conflict, ...] = field(default=(), repr=False)

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.accepted + other.accepted,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
            self.rejects + other.rejects,
            self.conflicts + other.conflicts,
            self.conflicting + other.conflicting,
        )


EMPTY_RESULT = WriteResult(0, 0, 0)


@dataclass(frozen=True)
class UnreadableRow:
    """A row of a source file that could not be parsed into fields at all.

    Attributes:
        row_number: where it is in its source (a line number).
        reason: why it could not be read (e.g. "expected 11 fields, found 12").
        raw: its text, as far as it could be decoded.
        field: what the reject is filed under; ``row`` as no single field is at fault.
    """

    row_number: int
    reason: str
    raw: str | None
    field: str = "row"


def utcnow() -> datetime:
    """Now, in UTC, naive: how the event tables store times."""
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

    def close(self) -> None:
        """Release the database's pooled connections (a DuckDB file admits one writing process)."""
        self.engine.dispose()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_tables(self) -> None:
        """Create missing tables and indexes; existing ones are left as they are."""
        metadata.create_all(self.engine)

    def has_schema(self) -> bool:
        """Whether the event tables exist in this database."""
        names = set(inspect(self.engine).get_table_names())
        return {t.name for t in EVENT_TABLES.values()} <= names

    # -- experiments and model versions -------------------------------------------------

    def apply_experiment(self, config: Definition, at: datetime | None = None) -> Applied:
        """Record an experiment definition as a new phase, unless it is already the one in force.

        A change of salt or weights appends phase N+1 starting at ``at`` (now by default);
        the same definition again changes nothing. The ``experiments`` table is kept as the
        current definition. See :mod:`abkit.events.phases`.

        Raises:
            PhaseError: ``at`` is before the start of the experiment's latest phase.
        """
        return apply_definition(self.engine, config, at)

    def apply_experiments(self, configs: Sequence[Definition], at: datetime | None = None) -> list[Applied]:
        """:meth:`apply_experiment` for several experiments in one transaction: all or none.

        Raises:
            PhaseError: one would start before its experiment's latest phase (nothing is written).
        """
        return apply_definitions(self.engine, configs, at)

    def register_experiment(
        self, name: str, salt: str, arms: Sequence[tuple[str, float]], *, at: datetime | None = None
    ) -> Applied:
        """Record an experiment definition: :meth:`apply_experiment` by name, salt and arms.

        Raises:
            ConfigError: the definition breaks a rule of experiments.toml (names, salt, weights).
        """
        return self.apply_experiment(ExperimentConfig(name, salt, tuple(arms)), at)

    def experiment_phases(self, experiment: str | None = None) -> list[ExperimentPhase]:
        """Every phase recorded, by experiment then phase number (one experiment's when named)."""
        with self.engine.connect() as conn:
            return list_phases(conn, experiment)

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

    def clear_rejects(self, source: str) -> int:
        """Delete the stored rejects of one source (before it is ingested again); return how many."""
        with self.engine.begin() as conn:
            return conn.execute(rejects.delete().where(rejects.c.source == source)).rowcount

    # -- events -------------------------------------------------------------------------

    def write(
        self,
        kind: EventKind,
        events: Iterable[Mapping[str, Any]] | pl.DataFrame,
        *,
        quarantine: bool = False,
        source: str = "api",
        raw_rows: Sequence[str] | None = None,
        row_numbers: Sequence[int] | None = None,
        unreadable: Sequence[UnreadableRow] = (),
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
            row_numbers: the row number of each row in its source (ingest passes file line
                numbers), kept with rejects; by default the 1-based position in the batch.
            unreadable: rows of the same source that could not even be parsed (a ragged CSV
                line, a JSON line that is not an object); needs ``quarantine``. They go to
                ``rejects`` in the same transaction and count as rejected.

        Returns:
            Accepted, duplicate (the same event already stored or repeated in the batch),
            conflicting (an id stored with other content: not written, filed in ``rejects``
            whatever ``quarantine`` says) and rejected counts.

        Raises:
            EventError: a malformed event, when ``quarantine`` is False.
        """
        if kind not in EVENT_TABLES:
            raise EventError("kind", f"unknown event kind {kind!r}; expected one of {list(EVENT_TABLES)}")
        if unreadable and not quarantine:
            raise EventError(unreadable[0].field, unreadable[0].reason)
        frame = events if isinstance(events, pl.DataFrame) else _frame_from_records(events)
        if frame.height == 0 and not unreadable:
            return EMPTY_RESULT
        # No check against the registered experiments' current arms: the standing experiment
        # moves on (holdout/v1, later holdout/v2...) and historical events must still load.
        # validate_batch already requires the arm to be 'holdout' or the row's model_version.
        checked = validate_batch(kind, frame) if frame.height else None
        rejected_rows = (
            tuple(Reject(int(row), str(fld), str(reason)) for row, fld, reason in checked.rejected.iter_rows())
            if checked is not None
            else ()
        )
        if rejected_rows and not quarantine:
            first = rejected_rows[0]
            raise EventError(first.field, first.reason, index=first.row)

        table = EVENT_TABLES[kind]
        id_column = c.ID_COLUMN_BY_KIND[kind]
        valid_count = accepted = 0
        now = utcnow()
        reject_records = [
            {
                "event_kind": kind,
                "source": source,
                "row_number": row_numbers[r.row] if row_numbers is not None else r.row + 1,
                "field": r.field,
                "reason": r.reason,
                "raw": raw_rows[r.row] if raw_rows is not None else None,
                "rejected_at": now,
            }
            for r in rejected_rows
        ] + [
            {
                "event_kind": kind,
                "source": source,
                "row_number": u.row_number,
                "field": u.field,
                "reason": u.reason,
                "raw": u.raw,
                "rejected_at": now,
            }
            for u in unreadable
        ]
        conflicts: list[Conflict] = []
        with self.engine.begin() as conn:
            if checked is not None:
                valid = checked.valid
                valid_count = valid.height
                unique = valid.unique(subset=id_column, keep="first", maintain_order=True).drop("__row__")
                accepted = insert_new_rows(conn, table, id_column, unique)
                if accepted < valid_count:  # some ids were stored already or repeated: same content?
                    conflicts = find_conflicts(conn, table, kind, valid)
                    reject_records += _conflict_records(kind, source, conflicts, valid, raw_rows, row_numbers, now)
            if reject_records:
                conn.execute(insert(rejects), reject_records)
        return WriteResult(
            accepted=accepted,
            duplicates=valid_count - accepted - len(conflicts),
            rejected=len(rejected_rows) + len(unreadable),
            rejects=rejected_rows,
            conflicts=len(conflicts),
            conflicting=tuple(conflicts),
        )


def _conflict_records(
    kind: EventKind,
    source: str,
    conflicts: Sequence[Conflict],
    valid: pl.DataFrame,
    raw_rows: Sequence[str] | None,
    row_numbers: Sequence[int] | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """``rejects`` rows for conflicting events, keeping their text so nothing sent is lost."""
    if not conflicts:
        return []
    by_row = {
        int(row["__row__"]): row for row in valid.filter(pl.col("__row__").is_in([x.row for x in conflicts])).to_dicts()
    }
    return [
        {
            "event_kind": kind,
            "source": source,
            "row_number": row_numbers[x.row] if row_numbers is not None else x.row + 1,
            "field": c.ID_COLUMN_BY_KIND[kind],
            "reason": x.reason,
            "raw": raw_rows[x.row]
            if raw_rows is not None
            else json.dumps({k: v for k, v in by_row[x.row].items() if k != "__row__"}, default=str),
            "rejected_at": now,
        }
        for x in conflicts
    ]


def _frame_from_records(events: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    rows = [dict(event) for event in events]
    if not rows:
        return pl.DataFrame()
    names = list(dict.fromkeys(key for row in rows for key in row))  # first-seen order
    # Build column by column with object-tolerant inference so a stray type is validated,
    # not an exception from the DataFrame constructor.
    data = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            series = pl.Series(name, values, strict=False)
            if series.len() != len(values):  # polars miscounts some nested lists ([[""], [None, []]])
                raise ValueError(name)
            data[name] = series
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            # Mixed types (a datetime beside a string...): hand validation the text of each.
            data[name] = pl.Series(name, [_as_text(v) for v in values], dtype=pl.String)
    return pl.DataFrame(data)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
