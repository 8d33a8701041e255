"""The background event writer: batching, retry while the database is down, flush, bounds."""

import logging
import threading
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from abkit.events import EventStore
from abkit.events.schema import cases
from abkit.serving.writer import BufferFull, EventWriter, WriterSettings

FAST = WriterSettings(flush_interval_s=0.01, backoff_initial_s=0.01, backoff_max_s=0.05, health_check_interval_s=0.05)


def case(i, handle_time_s=60.0):
    return {"case_id": f"c{i}", "handle_time_s": handle_time_s, "closed_at": datetime(2026, 1, 1, 10, 0)}


def count_cases(store):
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(cases)).scalar()


class FlakyStore:
    """A real store whose writes fail while ``down`` is set, as when the database is unreachable."""

    def __init__(self, inner: EventStore):
        self.inner = inner
        self.down = threading.Event()
        self.failed_writes = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def write(self, kind, events, **kwargs):
        if self.down.is_set():
            self.failed_writes += 1
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("connection refused"))
        return self.inner.write(kind, events, **kwargs)


def test_writes_in_batches_and_flushes(sqlite_url):
    store = EventStore.open(sqlite_url)
    writer = EventWriter(lambda: store, settings=WriterSettings(batch_size=7, flush_interval_s=0.01))
    writer.start()
    for i in range(30):
        writer.put("case", case(i))
    assert writer.flush(timeout=20)
    assert count_cases(store) == 30 and writer.pending == 0
    assert writer.written["case"] == 30 and writer.db_up
    assert writer.close() == 0


def test_setup_runs_once_before_the_first_write(sqlite_url):
    calls = []
    writer = EventWriter(lambda: EventStore.open(sqlite_url), setup=calls.append, settings=FAST)
    writer.start()
    writer.put("case", case(1))
    writer.put("case", case(2))
    writer.close()
    assert len(calls) == 1 and isinstance(calls[0], EventStore)


def test_database_down_then_back_loses_nothing_acknowledged(sqlite_url):
    flaky = FlakyStore(EventStore.open(sqlite_url))
    writer = EventWriter(lambda: flaky, settings=FAST)
    writer.start()
    writer.put("case", case(0))
    assert writer.flush(timeout=20)
    flaky.down.set()
    for i in range(1, 40):
        writer.put("case", case(i))
    assert not writer.flush(timeout=0.3)  # cannot flush while the database is down
    assert writer.pending == 39 and not writer.db_up and flaky.failed_writes >= 2
    assert "connection refused" in writer.last_error
    flaky.down.clear()
    assert writer.flush(timeout=20)
    assert writer.db_up and count_cases(flaky.inner) == 40
    writer.close()


def test_backoff_grows_instead_of_hammering_the_database(sqlite_url):
    flaky = FlakyStore(EventStore.open(sqlite_url))
    flaky.down.set()
    settings = WriterSettings(flush_interval_s=0, backoff_initial_s=0.05, backoff_max_s=0.2, health_check_interval_s=10)
    writer = EventWriter(lambda: flaky, settings=settings)
    writer.start()
    writer.put("case", case(1))
    assert not writer.flush(timeout=1.0)
    # With backoff 0.05, 0.1, 0.2, 0.2, ... one second allows at most ~7 attempts, not hundreds.
    assert 2 <= flaky.failed_writes <= 8
    flaky.down.clear()
    assert writer.close(timeout=10) == 0


def test_close_reports_events_it_could_not_write(sqlite_url, caplog):
    flaky = FlakyStore(EventStore.open(sqlite_url))
    flaky.down.set()
    writer = EventWriter(lambda: flaky, settings=FAST)
    writer.start()
    writer.put("case", case(1))
    with caplog.at_level(logging.ERROR, logger="abkit.serving.writer"):
        assert writer.close(timeout=0.2) == 1
    assert "1 unwritten case events (first ids: c1)" in caplog.text


def test_events_still_unwritten_at_close_are_spilled_for_abkit_ingest(sqlite_url, tmp_path):
    from click.testing import CliRunner

    from abkit.cli.ingest import ingest

    flaky = FlakyStore(EventStore.open(sqlite_url))
    flaky.down.set()
    writer = EventWriter(lambda: flaky, settings=FAST, spill_dir=tmp_path / "spill")
    writer.start()
    for i in range(3):
        writer.put("case", case(i))
    assert writer.close(timeout=0.2) == 3
    (spilled,) = writer.spilled
    assert spilled.name.startswith("unwritten-case-") and len(spilled.read_text().splitlines()) == 3
    # The database is back: the operator loads the file and nothing acknowledged is missing.
    result = CliRunner().invoke(ingest, ["--db", sqlite_url, str(spilled)])
    assert result.exit_code == 0, result.output
    assert count_cases(flaky.inner) == 3


def test_a_malformed_event_is_isolated_and_the_rest_written(sqlite_url):
    store = EventStore.open(sqlite_url)
    writer = EventWriter(lambda: store, settings=FAST)
    writer.start()
    writer.put("case", case(1))
    writer.put("case", case(2, handle_time_s=-5))  # the store refuses a negative handle time
    writer.put("case", case(3))
    writer.close()
    assert count_cases(store) == 2 and writer.rejected == 1


def test_the_buffer_bound_refuses_rather_than_drops(sqlite_url):
    writer = EventWriter(lambda: EventStore.open(sqlite_url), settings=WriterSettings(max_pending=2))
    writer.put("case", case(1))
    writer.put("case", case(2))
    assert not writer.has_room()
    with pytest.raises(BufferFull, match="2 events waiting"):
        writer.put("case", case(3))
    writer.put("case", case(4), force=True)  # admitted earlier: kept, never dropped
    assert writer.pending == 3
    writer.start()
    assert writer.close(timeout=20) == 0
    with pytest.raises(BufferFull, match="shutting down"):
        writer.put("case", case(5))


@pytest.mark.parametrize(("field", "value"), [("max_pending", 0), ("batch_size", 0), ("backoff_max_s", -1)])
def test_settings_refuse_nonsense(field, value):
    with pytest.raises(ValueError, match=field):
        WriterSettings(**{field: value})


def test_an_event_someone_waits_for_is_written_at_once_and_its_outcome_told(sqlite_url):
    store = EventStore.open(sqlite_url)
    # The writer would wait a minute to fill a batch of 10,000; a waited-for event goes at once.
    writer = EventWriter(lambda: store, settings=WriterSettings(flush_interval_s=60, batch_size=10_000))
    writer.start()
    committed = writer.put("case", case(1), durable=True)
    # Raises TimeoutError if the waited-for event waited for a fuller batch.
    assert committed is not None and committed.result(20).stored
    assert count_cases(store) == 1  # committed before the future resolved
    # The same event again is stored (a duplicate); other content under its id is a conflict.
    for event, expected in ((case(1), (True, ())), (case(1, handle_time_s=5.0), (False, ("handle_time_s",)))):
        committed = writer.put("case", event, durable=True)
        assert committed is not None
        outcome = committed.result(20)
        assert (outcome.stored, outcome.conflict_fields) == expected
    assert "differs in handle_time_s" in (outcome.detail or "")
    assert (writer.written["case"], writer.duplicates["case"], writer.conflicts["case"]) == (1, 1, 1)
    writer.close()


def test_a_waiter_left_at_close_is_told_its_event_was_not_stored(sqlite_url):
    flaky = FlakyStore(EventStore.open(sqlite_url))
    flaky.down.set()
    writer = EventWriter(lambda: flaky, settings=FAST)
    writer.start()
    committed = writer.put("case", case(1), durable=True)
    assert writer.close(timeout=0.2) == 1
    assert committed is not None and committed.done()
    outcome = committed.result()
    assert outcome.stored is False and "closed before the database committed it" in (outcome.detail or "")
