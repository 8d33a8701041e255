"""Event logging off the request path: a background thread that writes events in batches.

:meth:`EventWriter.put` only appends to an in-memory buffer; the writer thread writes batches
of one kind, one transaction each, and removes them from the buffer only after the commit, so
an acknowledged event is either in the database or still buffered. While the database is
down it retries the same batch with exponential backoff; writes are idempotent by id, so a
retry after an ambiguous failure stores nothing twice. Events not put ``durable``
(predictions) are acknowledged from memory, and a crash loses those still buffered.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import text
from tenacity import Retrying, wait_exponential

from abkit.events import EventError, EventStore
from abkit.events.columns import EVENT_KINDS, ID_COLUMN_BY_KIND, EventKind
from abkit.settings import settings

log = logging.getLogger(__name__)


@settings
class WriterSettings:
    """Batching, buffering and retry of the event writer."""

    max_pending: Annotated[int, Field(ge=1)] = 50_000  # buffered events at which new requests are refused (HTTP 503)
    batch_size: Annotated[int, Field(ge=1)] = 500  # events per transaction
    # How long a partial batch may wait for more events (fewer, larger writes).
    flush_interval_s: Annotated[float, Field(ge=0)] = 0.5
    backoff_initial_s: Annotated[float, Field(ge=0)] = 0.05  # first retry delay after a failed write; doubles each time
    backoff_max_s: Annotated[float, Field(ge=0)] = 2.0
    health_check_interval_s: Annotated[float, Field(ge=0)] = 2.0  # ping the database this often when idle


class BufferFull(Exception):
    """The event buffer is at its bound; the event was not accepted."""


@dataclass(frozen=True)
class WriteOutcome:
    """What became of one event put with ``durable``."""

    stored: bool  # the event, or the same one sent before, is committed
    # Not stored because its id is stored with other content: the columns that differ (the
    # stored event is kept; the store files this one in rejects).
    conflict_fields: tuple[str, ...] = ()
    detail: str | None = None  # why it was not stored, in words


_STORED = WriteOutcome(stored=True)
_CLOSED = WriteOutcome(stored=False, detail="the event writer closed before the database committed it")


class EventWriter:
    """Writes buffered events to an :class:`EventStore` from a background thread.

    ``open_store`` is called (and retried) on the writer thread, so the service can start while
    the database is down; ``setup`` runs once on the store before the first write (register
    experiments, model versions), retried like a write; :meth:`close` saves the events it could
    not write to ``spill_dir`` (None: log only).
    """

    def __init__(
        self,
        open_store: Callable[[], EventStore],
        setup: Callable[[EventStore], None] | None = None,
        settings: WriterSettings | None = None,
        spill_dir: str | Path | None = None,
    ):
        self.settings = settings or WriterSettings()
        self.spill_dir = spill_dir
        self.spilled: list[Path] = []
        self._open_store = open_store
        self._setup = setup
        self._store: EventStore | None = None
        self._ready = False
        self._buffers: dict[EventKind, deque[dict[str, Any]]] = {kind: deque() for kind in EVENT_KINDS}
        self.pending = 0  # events acknowledged but not yet committed
        self._lock = threading.Condition()
        self._closing = False
        self._flushing = 0
        self._thread: threading.Thread | None = None
        self._next_kind = 0
        # The futures of events put with durable, by the identity of the buffered dict.
        self._waiters: dict[int, Future[WriteOutcome]] = {}
        # Read by the metrics collector.
        self.db_up = False
        self.written: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)
        self.duplicates: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)  # the same event again (retries)
        self.conflicts: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)  # an id stored with other content
        self.write_failures = 0
        self.rejected = 0
        self.last_error: str | None = None

    def has_room(self) -> bool:
        return self.pending < self.settings.max_pending and not self._closing

    def put(
        self, kind: EventKind, event: Mapping[str, Any], *, force: bool = False, durable: bool = False
    ) -> Future[WriteOutcome] | None:
        """Buffer one event; raise :class:`BufferFull` at the bound (unless ``force``) or once closed.

        ``force`` is for an event whose request was admitted by :meth:`has_room` before its work
        started: it is never dropped. With ``durable`` the event is written without waiting for a
        fuller batch, and the returned future resolves to its :class:`WriteOutcome`.
        """
        with self._lock:
            if self._closing:
                raise BufferFull("the event writer is shutting down")
            if not force and self.pending >= self.settings.max_pending:
                raise BufferFull(f"{self.pending} events waiting to be written")
            buffered = dict(event)
            self._buffers[kind].append(buffered)
            self.pending += 1
            committed: Future[WriteOutcome] | None = None
            if durable:
                committed = self._waiters[id(buffered)] = Future()
                committed.set_running_or_notify_cancel()  # running: a waiter giving up cannot cancel it
            # Wake the writer only for the first event after idle, a full batch, or an event someone
            # waits for: a wake-up per event made it contend for the GIL with every request.
            if self.pending == 1 or self.pending >= self.settings.batch_size or durable:
                self._lock.notify()
        return committed

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="abkit-event-writer", daemon=True)
            self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered event is committed; False if ``timeout`` passed first."""
        with self._lock:
            self._flushing += 1  # the writer stops waiting for fuller batches
            self._lock.notify_all()
            try:
                return self._lock.wait_for(lambda: not self.pending, timeout)
            finally:
                self._flushing -= 1

    def close(self, timeout: float | None = 30.0) -> int:
        """Stop taking events, write what is buffered (retrying up to ``timeout``), stop.

        Returns the number of events left unwritten (0 after a complete flush), logged at ERROR
        and, with ``spill_dir``, saved there as JSON Lines (one file per kind).
        """
        flushed = self.flush(timeout)
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        with self._lock:
            waiting, self._waiters = list(self._waiters.values()), {}
        for future in waiting:
            future.set_result(_CLOSED)
        for kind, buffer in self._buffers.items():
            if buffer and not flushed:
                first_ids = ", ".join(str(event.get(ID_COLUMN_BY_KIND[kind])) for event in list(buffer)[:3])
                log.error(
                    "event writer closed with %d unwritten %s events (first ids: %s)", len(buffer), kind, first_ids
                )
                if self.spill_dir is not None:
                    self._spill(Path(self.spill_dir), kind, list(buffer))
        return self.pending

    def _spill(self, folder: Path, kind: EventKind, events: list[dict[str, Any]]) -> None:
        """Save ``events`` of one kind to ``folder`` as JSON Lines for ``abkit ingest`` (idempotent by id)."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            path = folder / f"unwritten-{kind}-{stamp}-{os.getpid()}.jsonl"
            with path.open("w", encoding="utf-8") as out:
                out.writelines(json.dumps(event, default=datetime.isoformat) + "\n" for event in events)
        except OSError as error:
            log.error("event writer: could not save unwritten %s events to %s: %s", kind, folder, error)
            return
        log.error(
            "event writer: %d unwritten %s events saved to %s; load them with `abkit ingest`", len(events), kind, path
        )
        self.spilled.append(path)

    def _take_batch(self) -> tuple[EventKind, list[dict[str, Any]]] | None:
        """The next batch, round-robin over kinds; the events stay buffered until committed."""
        for offset in range(len(EVENT_KINDS)):
            index = (self._next_kind + offset) % len(EVENT_KINDS)
            if buffer := self._buffers[EVENT_KINDS[index]]:
                self._next_kind = index + 1
                return EVENT_KINDS[index], list(islice(buffer, self.settings.batch_size))
        return None

    def _committed(self, kind: EventKind, batch: list[dict[str, Any]], outcomes: dict[int, WriteOutcome]) -> None:
        """Drop a committed batch from the buffer and tell whoever waits for its events their ``outcomes``."""
        with self._lock:
            buffer = self._buffers[kind]
            for _ in range(len(batch)):
                buffer.popleft()  # producers only append, so the batch is still at the front
            self.pending -= len(batch)
            waiting = [(self._waiters.pop(id(event), None), outcomes.get(i, _STORED)) for i, event in enumerate(batch)]
            self._lock.notify_all()
        for future, outcome in waiting:
            if future is not None:
                future.set_result(outcome)

    def _ensure_store(self) -> EventStore:
        if self._store is None:
            self._store = self._open_store()
        if not self._ready:
            self._store.create_tables()
            if self._setup is not None:
                self._setup(self._store)
            self._ready = True
        return self._store

    def _write(self, kind: EventKind, batch: list[dict[str, Any]]) -> dict[int, WriteOutcome]:
        """Write one batch; return the outcome of each event not stored as given, by position."""
        store = self._ensure_store()
        outcomes: dict[int, WriteOutcome] = {}
        try:
            results = [(0, store.write(kind, batch))]
        except EventError:
            # Events are validated before they are acknowledged, so this should not happen;
            # if it does, write one by one so that one bad event cannot block the rest.
            results = []
            for index, event in enumerate(batch):
                try:
                    results.append((index, store.write(kind, [event])))
                except EventError as error:
                    self.rejected += 1
                    log.error("event writer: refused %s event %s: %s", kind, event.get(ID_COLUMN_BY_KIND[kind]), error)
                    outcomes[index] = WriteOutcome(stored=False, detail=f"refused by the event store: {error}")
        for offset, result in results:
            self.written[kind] += result.accepted
            self.duplicates[kind] += result.duplicates
            self.conflicts[kind] += result.conflicts
            for conflict in result.conflicting:
                log.warning(
                    "event writer: %s %s conflicts with the stored event (differs in %s); kept the first, filed the "
                    "second in rejects",
                    ID_COLUMN_BY_KIND[kind],
                    conflict.event_id,
                    ", ".join(conflict.fields),
                )
                outcomes[offset + conflict.row] = WriteOutcome(
                    stored=False, conflict_fields=conflict.fields, detail=conflict.reason
                )
        return outcomes

    def _ping(self) -> None:
        try:
            store = self._ensure_store()
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            self.db_up = True
        except Exception as error:  # any driver error means "not reachable"
            self._failed(error)

    def _failed(self, error: BaseException | None) -> None:
        self.db_up = False
        self.write_failures += 1
        self.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        log.warning("event writer: database unavailable (%s); retrying", self.last_error)

    def _write_retrying(self, kind: EventKind, batch: list[dict[str, Any]]) -> dict[int, WriteOutcome] | None:
        """:meth:`_write` until it commits, backing off (any exception: the database is down); None once closing."""
        settings = self.settings
        return Retrying(
            stop=lambda _state: self._closing,
            wait=wait_exponential(multiplier=settings.backoff_initial_s, max=settings.backoff_max_s),
            sleep=self._back_off,
            after=lambda state: self._failed(state.outcome.exception() if state.outcome else None),
            retry_error_callback=lambda _state: None,
        )(self._write, kind, batch)

    def _back_off(self, seconds: float) -> None:
        with self._lock:
            if not self._closing:
                self._lock.wait(seconds)

    def _run(self) -> None:
        settings = self.settings
        self._ping()
        while True:
            with self._lock:
                if not self._lock.wait_for(lambda: self.pending or self._closing, settings.health_check_interval_s):
                    taken = None  # idle for an interval: ping below
                elif not self.pending:
                    return  # closing, and everything is written
                else:
                    # Let a partial batch fill for up to flush_interval_s, unless a flush or a
                    # durable event is waiting.
                    self._lock.wait_for(
                        lambda: self.pending >= settings.batch_size or self._closing or self._flushing or self._waiters,
                        settings.flush_interval_s,
                    )
                    taken = self._take_batch()
            if taken is None:
                self._ping()
                continue
            kind, batch = taken
            outcomes = self._write_retrying(kind, batch)
            if outcomes is None:  # closing, and the database still does not take it
                return
            self.db_up = True
            self._committed(kind, batch, outcomes)
