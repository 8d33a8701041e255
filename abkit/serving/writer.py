"""Event logging off the request path: a background thread that writes events in batches.

Requests hand events to :meth:`EventWriter.put`, which only appends to an in-memory buffer.
The writer thread takes batches of one kind, writes each in one transaction and removes
them from the buffer only after the commit, so an event acknowledged to a client is either
in the database or still in the buffer. When the database cannot be reached the writer
retries the same batch with exponential backoff (tenacity); writes are idempotent by event
id, so a retry after an ambiguous failure stores nothing twice. The buffer is bounded for admission:
once it holds ``max_pending`` events, :meth:`EventWriter.has_room` says no and the service
refuses new requests (HTTP 503) instead of accepting events it might have to drop.

Durability: an event put with ``on_commit`` is written without waiting for a fuller batch
and its callback is told, from the writer thread, once its transaction has committed (or why
it was not stored). The service uses it to acknowledge selections and cases only once they
are in the database (docs/serving.md, "Durability"); events put without it (predictions) are
acknowledged from memory and a crash (SIGKILL, OOM kill, power loss) loses those still
buffered, at most about ``flush_interval_s`` plus one write's worth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from tenacity import Retrying, wait_exponential

from abkit.events import EventError, EventStore
from abkit.events.columns import EVENT_KINDS, ID_COLUMN_BY_KIND, EventKind
from abkit.serving.spill import spill

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriterSettings:
    """Batching, buffering and retry of the event writer."""

    max_pending: int = 50_000  # buffered events at which new requests are refused (HTTP 503)
    batch_size: int = 500  # events per transaction
    flush_interval_s: float = 0.5  # how long a partial batch may wait for more events (fewer, larger writes)
    backoff_initial_s: float = 0.05  # first retry delay after a failed write; doubles each time
    backoff_max_s: float = 2.0
    health_check_interval_s: float = 2.0  # ping the database this often when there is nothing to write

    def __post_init__(self) -> None:
        for name in ("max_pending", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("flush_interval_s", "backoff_initial_s", "backoff_max_s", "health_check_interval_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")


class BufferFull(Exception):
    """The event buffer is at its bound; the event was not accepted."""


@dataclass(frozen=True)
class WriteOutcome:
    """What became of one event put with ``on_commit``.

    Attributes:
        stored: the event, or the same event sent before, is committed to the database.
        conflict_fields: when not stored because its id is stored with other content, the
            columns that differ (the stored event is kept; the store files this one in ``rejects``).
        detail: why it was not stored, in words.
    """

    stored: bool
    conflict_fields: tuple[str, ...] = ()
    detail: str | None = None


CommitCallback = Callable[[WriteOutcome], None]
_STORED = WriteOutcome(stored=True)


class EventWriter:
    """Writes buffered events to an :class:`EventStore` from a background thread.

    Args:
        open_store: returns the store; called (and retried) on the writer thread, so the
            service can start while the database is still down.
        setup: run once on the store before the first write (register experiments, model
            versions); retried like a write until it succeeds.
        settings: batching and retry settings.
        spill_dir: where :meth:`close` saves events it could not write (None: log only).
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
        self._pending = 0
        self._lock = threading.Condition()
        self._closing = False
        self._flushing = 0
        self._thread: threading.Thread | None = None
        self._next_kind = 0
        # Callbacks of events put with on_commit, by the identity of the buffered dict.
        self._waiters: dict[int, CommitCallback] = {}
        # Read by the metrics collector.
        self.db_up = False
        self.written: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)
        self.duplicates: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)  # the same event again (retries)
        self.conflicts: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)  # an id stored with other content
        self.write_failures = 0
        self.rejected = 0
        self.last_error: str | None = None

    # -- producer side (request handlers) -------------------------------------------------

    @property
    def pending(self) -> int:
        """Events acknowledged but not yet committed."""
        return self._pending

    def has_room(self, events: int = 1) -> bool:
        """Whether ``events`` more may be accepted without passing ``max_pending``."""
        return self._pending + events <= self.settings.max_pending and not self._closing

    def put(
        self,
        kind: EventKind,
        event: Mapping[str, Any],
        *,
        force: bool = False,
        on_commit: CommitCallback | None = None,
    ) -> None:
        """Buffer one event for writing.

        Args:
            force: accept even above ``max_pending`` (for an event whose request was admitted
                by :meth:`has_room` before its work started: it is never dropped).
            on_commit: called on the writer thread with the event's :class:`WriteOutcome`
                once its transaction committed; the event is then written without waiting
                for a fuller batch (events waiting together share one commit).

        Raises:
            BufferFull: the buffer is at its bound (and ``force`` is False), or the writer is closed.
        """
        with self._lock:
            if self._closing:
                raise BufferFull("the event writer is shutting down")
            if not force and self._pending >= self.settings.max_pending:
                raise BufferFull(f"{self._pending} events waiting to be written")
            buffered = dict(event)
            self._buffers[kind].append(buffered)
            self._pending += 1
            if on_commit is not None:
                self._waiters[id(buffered)] = on_commit
            # Wake the writer only when it has something to do: the first event after idle, a
            # full batch, or an event someone waits for (it times out on its own for a partial
            # batch). A wake-up per event made the writer thread contend for the GIL with the
            # request handlers on every request.
            if self._pending == 1 or self._pending >= self.settings.batch_size or on_commit is not None:
                self._lock.notify()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="abkit-event-writer", daemon=True)
            self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered event is committed; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushing += 1  # the writer stops waiting for fuller batches
            self._lock.notify_all()
            try:
                while self._pending:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._lock.wait(0.05 if remaining is None else min(remaining, 0.05))
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float | None = 30.0) -> int:
        """Stop taking events, write what is buffered (retrying up to ``timeout``), stop.

        Returns:
            The number of events left unwritten to the database (0 after a complete flush).
            They are saved to JSON Lines files in ``spill_dir`` (one per kind, loadable
            with ``abkit ingest``) when it is set, and logged at ERROR level in any case.
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
        for callback in waiting:
            callback(WriteOutcome(stored=False, detail="the event writer closed before the database committed it"))
        if not flushed:
            for kind, buffer in self._buffers.items():
                if buffer:
                    log.error(
                        "event writer closed with %d unwritten %s events (first ids: %s)",
                        len(buffer),
                        kind,
                        ", ".join(str(event.get(ID_COLUMN_BY_KIND[kind])) for event in list(buffer)[:3]),
                    )
                    saved = None if self.spill_dir is None else spill(self.spill_dir, kind, list(buffer))
                    if saved is not None:
                        self.spilled.append(saved)
        return self._pending

    # -- writer thread ---------------------------------------------------------------------

    def _take_batch(self) -> tuple[EventKind, list[dict[str, Any]]] | None:
        """The next batch, round-robin over kinds; the events stay buffered until committed."""
        for offset in range(len(EVENT_KINDS)):
            kind = EVENT_KINDS[(self._next_kind + offset) % len(EVENT_KINDS)]
            buffer = self._buffers[kind]
            if buffer:
                self._next_kind = (self._next_kind + offset + 1) % len(EVENT_KINDS)
                size = min(len(buffer), self.settings.batch_size)
                return kind, [buffer[i] for i in range(size)]
        return None

    def _committed(self, kind: EventKind, batch: list[dict[str, Any]], outcomes: dict[int, WriteOutcome]) -> None:
        """Drop a committed batch from the buffer and tell whoever waits for its events.

        Args:
            outcomes: by position in the batch, the events not stored as given (others are stored).
        """
        with self._lock:
            buffer = self._buffers[kind]
            for _ in range(len(batch)):
                buffer.popleft()  # producers only append, so the batch is still at the front
            self._pending -= len(batch)
            callbacks = [
                (self._waiters.pop(id(event), None), outcomes.get(i, _STORED)) for i, event in enumerate(batch)
            ]
            self._lock.notify_all()
        for callback, outcome in callbacks:
            if callback is not None:
                callback(outcome)

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

    def _failed(self, error: Exception) -> None:
        self.db_up = False
        self.write_failures += 1
        self.last_error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        log.warning("event writer: database unavailable (%s); retrying", self.last_error)

    def _write_retrying(self, kind: EventKind, batch: list[dict[str, Any]]) -> dict[int, WriteOutcome] | None:
        """:meth:`_write` the batch until it commits; None when the writer closed first.

        Any exception means the database is down (or the store cannot be opened yet): the batch
        stays buffered and is written again after ``backoff_initial_s``, doubling up to
        ``backoff_max_s``; closing ends the wait, and a failure once closing is the last.
        """

        def write() -> dict[int, WriteOutcome]:
            try:
                return self._write(kind, batch)
            except Exception as error:
                self._failed(error)
                raise

        settings = self.settings
        return Retrying(
            stop=lambda _state: self._closing,
            wait=wait_exponential(multiplier=settings.backoff_initial_s, max=settings.backoff_max_s),
            sleep=self._back_off,
            retry_error_callback=lambda _state: None,
        )(write)

    def _back_off(self, seconds: float) -> None:
        with self._lock:
            if not self._closing:
                self._lock.wait(seconds)

    def _run(self) -> None:
        settings = self.settings
        self._ping()
        while True:
            with self._lock:
                if not self._pending:
                    if self._closing:
                        return
                    woke = self._lock.wait(settings.health_check_interval_s)
                    if not woke and not self._pending and not self._closing:
                        self._lock.release()
                        try:
                            self._ping()
                        finally:
                            self._lock.acquire()
                    continue
                # Let a partial batch fill for up to flush_interval_s, unless a flush or a
                # durable event is waiting.
                give_up = time.monotonic() + settings.flush_interval_s
                while (
                    self._pending < settings.batch_size
                    and not self._closing
                    and not self._flushing
                    and not self._waiters
                ):
                    remaining = give_up - time.monotonic()
                    if remaining <= 0:
                        break
                    self._lock.wait(remaining)
                taken = self._take_batch()
            if taken is None:
                continue
            kind, batch = taken
            outcomes = self._write_retrying(kind, batch)
            if outcomes is None:  # closing, and the database still does not take it
                return
            self.db_up = True
            self._committed(kind, batch, outcomes)
