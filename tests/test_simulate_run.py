"""Simulating into a real event store: registration, idempotence, determinism, transcripts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from abkit.events.schema import cases, experiments, model_versions, predictions, selections
from abkit.events.store import EventStore
from abkit.simulate.run import simulate_into
from abkit.simulate.settings import settings_for_scale

SETTINGS = settings_for_scale(3_000)


def _rows(store, table):
    with store.engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(select(table)))


def test_writes_registers_and_is_idempotent(sqlite_url, tmp_path):
    store = EventStore.open(sqlite_url)
    transcripts = tmp_path / "transcripts.jsonl"
    result = simulate_into(store, SETTINGS, seed=3, transcripts_path=transcripts, progress=False)
    assert result.selections == result.predictions == len(_rows(store, selections))
    assert result.cases == len(_rows(store, cases)) == result.transcripts
    assert result.interactions >= result.cases

    registered = store.registered_experiments()
    assert set(registered) == {"standing", "v2-challenger", "v3-challenger", "v4-challenger"}
    assert registered["standing"] == ("standing", [("holdout", 0.02), ("v4", 0.98)])
    versions = _rows(store, model_versions)
    assert [row[0] for row in versions] == ["v1", "v2", "v3", "v4"]
    released = [row[2] for row in versions]
    assert released == sorted(released)

    # The labelled messages of the transcripts are the messages the events answer.
    lines = transcripts.read_text(encoding="utf-8").splitlines()
    labelled = {
        (case["case_id"], message["message_id"], message["template_id"])
        for case in map(json.loads, lines)
        for message in case["messages"]
        if message["template_id"] is not None
    }
    with store.engine.connect() as conn:
        logged = set(conn.execute(select(selections.c.case_id, selections.c.message_id, selections.c.template_id)))
    assert labelled == logged

    again = simulate_into(store, SETTINGS, seed=3, progress=False)
    assert (again.selections, again.predictions, again.cases) == (0, 0, 0), "re-writing the same events changes nothing"


def test_same_seed_gives_identical_tables(tmp_path):
    first = EventStore.open(str(tmp_path / "a.sqlite"))
    second = EventStore.open(str(tmp_path / "b.sqlite"))
    simulate_into(first, SETTINGS, seed=9, progress=False)
    simulate_into(second, SETTINGS, seed=9, progress=False)
    for table in (predictions, selections, cases):
        assert _rows(first, table) == _rows(second, table)
    with first.engine.connect() as conn:
        assert conn.execute(select(experiments.c.name)).first() is not None


def test_two_seeds_share_one_store_without_collisions(sqlite_url):
    store = EventStore.open(sqlite_url)
    one = simulate_into(store, SETTINGS, seed=1, progress=False)
    two = simulate_into(store, SETTINGS, seed=2, progress=False)
    assert len(_rows(store, selections)) == one.selections + two.selections


@pytest.mark.postgres
def test_postgres_gets_the_same_events_as_sqlite(postgres_url, sqlite_url):
    on_postgres = EventStore.open(postgres_url)
    on_sqlite = EventStore.open(sqlite_url)
    simulate_into(on_postgres, SETTINGS, seed=4, progress=False)
    simulate_into(on_sqlite, SETTINGS, seed=4, progress=False)
    assert _rows(on_postgres, selections) == _rows(on_sqlite, selections)
    assert len(_rows(on_postgres, predictions)) == len(_rows(on_sqlite, predictions))
