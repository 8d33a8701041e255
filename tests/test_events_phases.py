"""Experiment phases: appended on change, no-op when unchanged, ordered in time, safe under races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from abkit.assignment.config import ExperimentConfig
from abkit.events import EventStore
from abkit.events import phases as phases_module
from abkit.events.phases import PhaseError
from abkit.events.schema import experiment_phases, experiments

T0 = datetime(2026, 3, 2, 9, 0)
STANDING_V1 = ExperimentConfig("standing", "standing", (("holdout", 0.02), ("v1", 0.98)))
STANDING_V2 = ExperimentConfig("standing", "standing", (("holdout", 0.02), ("v2", 0.98)))
RAMP_START = ExperimentConfig("v5-challenger", "v5", (("holdout", 0.02), ("v5", 0.1), ("v4", 0.88)))
RAMP_FULL = ExperimentConfig("v5-challenger", "v5", (("holdout", 0.02), ("v5", 0.49), ("v4", 0.49)))


def _phases(store: EventStore) -> list[tuple]:
    return [(p.experiment, p.phase, p.salt, p.arms, p.started_at) for p in store.experiment_phases()]


def _history(url: str) -> None:
    store = EventStore.open(url)
    first = store.apply_experiment(STANDING_V1, at=T0)
    assert (first.phase, first.started_at, first.created) == (1, T0, True)
    again = store.apply_experiment(STANDING_V1, at=T0 + timedelta(days=3))
    assert (again.phase, again.started_at, again.created) == (1, T0, False)  # unchanged: nothing recorded
    release = store.apply_experiment(STANDING_V2, at=T0 + timedelta(days=74))
    assert (release.phase, release.created) == (2, True)
    store.apply_experiment(RAMP_START, at=T0 + timedelta(days=60))
    store.apply_experiment(RAMP_FULL, at=T0 + timedelta(days=63))
    assert _phases(store) == [
        ("standing", 1, "standing", (("holdout", 0.02), ("v1", 0.98)), T0),
        ("standing", 2, "standing", (("holdout", 0.02), ("v2", 0.98)), T0 + timedelta(days=74)),
        ("v5-challenger", 1, "v5", (("holdout", 0.02), ("v5", 0.1), ("v4", 0.88)), T0 + timedelta(days=60)),
        ("v5-challenger", 2, "v5", (("holdout", 0.02), ("v5", 0.49), ("v4", 0.49)), T0 + timedelta(days=63)),
    ]
    # The experiments table is the current definition of each.
    assert store.registered_experiments() == {
        "standing": ("standing", [("holdout", 0.02), ("v2", 0.98)]),
        "v5-challenger": ("v5", [("holdout", 0.02), ("v5", 0.49), ("v4", 0.49)]),
    }
    assert [p.phase for p in store.experiment_phases("v5-challenger")] == [1, 2]
    store.close()


def test_phases_are_appended_on_change_and_kept_sqlite(sqlite_url):
    _history(sqlite_url)


@pytest.mark.postgres
def test_phases_are_appended_on_change_and_kept_postgres(postgres_url):
    _history(postgres_url)


def test_phases_duckdb(tmp_path):
    _history(f"duckdb:///{tmp_path / 'events.duckdb'}")


def test_salt_change_and_arm_order_are_changes(sqlite_url):
    store = EventStore.open(sqlite_url)
    store.apply_experiment(STANDING_V1, at=T0)
    resalted = ExperimentConfig("standing", "standing-2027", STANDING_V1.arms)
    assert store.apply_experiment(resalted, at=T0 + timedelta(days=1)).created
    # Same weights in another order move the arms' hash ranges: a new phase too.
    reordered = ExperimentConfig("ab", "ab", (("holdout", 0.2), ("a", 0.4), ("b", 0.4)))
    store.apply_experiment(reordered, at=T0)
    swapped = ExperimentConfig("ab", "ab", (("holdout", 0.2), ("b", 0.4), ("a", 0.4)))
    assert store.apply_experiment(swapped, at=T0 + timedelta(hours=1)).phase == 2


def test_a_phase_before_the_latest_is_refused_naming_both_times(sqlite_url):
    store = EventStore.open(sqlite_url)
    store.apply_experiment(STANDING_V1, at=T0)
    with pytest.raises(PhaseError, match=r"2026-03-01 09:00:00, before its phase 1 started \(2026-03-02 09:00:00\)"):
        store.apply_experiment(STANDING_V2, at=T0 - timedelta(days=1))
    assert len(store.experiment_phases()) == 1  # nothing written
    assert store.registered_experiments()["standing"][1] == [("holdout", 0.02), ("v1", 0.98)]
    # The unchanged definition at an earlier time is still a no-op, not an error.
    assert not store.apply_experiment(STANDING_V1, at=T0 - timedelta(days=1)).created


def test_several_definitions_are_recorded_together_or_not_at_all(sqlite_url):
    store = EventStore.open(sqlite_url)
    store.apply_experiment(STANDING_V1, at=T0)
    with pytest.raises(PhaseError, match="before its phase 1 started"):
        store.apply_experiments([RAMP_START, STANDING_V2], at=T0 - timedelta(hours=1))
    assert [p.experiment for p in store.experiment_phases()] == ["standing"]
    applied = store.apply_experiments([RAMP_START, STANDING_V2], at=T0 + timedelta(days=1))
    assert [(a.experiment, a.phase, a.created) for a in applied] == [("v5-challenger", 1, True), ("standing", 2, True)]


def test_default_time_is_now_and_aware_times_are_converted(sqlite_url):
    store = EventStore.open(sqlite_url)
    before = datetime.now(UTC).replace(tzinfo=None)
    applied = store.register_experiment("standing", "standing", [("holdout", 0.02), ("v1", 0.98)])
    assert before <= applied.started_at <= datetime.now(UTC).replace(tzinfo=None)
    later = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    moved = store.register_experiment("standing", "standing", [("holdout", 0.02), ("v2", 0.98)], at=later)
    assert moved.started_at == datetime(2030, 1, 1, 10, 0)
    assert store.experiment_phases()[-1].recorded_at <= datetime.now(UTC).replace(tzinfo=None)


def test_an_experiment_registered_before_phases_gets_its_definition_as_phase_1(sqlite_url):
    # A database from before phases: an experiments row and events, no experiment_phases rows.
    store = EventStore.open(sqlite_url)
    registered = datetime(2026, 2, 1)
    with store.engine.begin() as conn:
        conn.execute(
            experiments.insert(),
            [
                {
                    "name": "standing",
                    "salt": "s",
                    "arms_json": '[["holdout", 0.02], ["v1", 0.98]]',
                    "created_at": registered,
                }
            ],
        )
    store.write(
        "selection",
        [
            {
                "selection_id": "s1",
                "case_id": "c1",
                "message_id": "m1",
                "advocate_id": "a1",
                "experiment": "standing",
                "arm": "v1",
                "model_version": "v1",
                "template_id": "T1",
                "selection_time_s": 12.0,
                "created_at": "2026-01-15T08:00:00",
            }
        ],
    )
    applied = store.register_experiment("standing", "s", [("holdout", 0.02), ("v2", 0.98)], at=T0)
    assert applied.phase == 2
    assert _phases(store) == [
        ("standing", 1, "s", (("holdout", 0.02), ("v1", 0.98)), datetime(2026, 1, 15, 8, 0)),
        ("standing", 2, "s", (("holdout", 0.02), ("v2", 0.98)), T0),
    ]
    # Applying the old row's own definition records it and reports it unchanged.
    with store.engine.begin() as conn:
        conn.execute(
            experiments.insert(),
            [{"name": "legacy", "salt": "l", "arms_json": '[["holdout", 0.5], ["v1", 0.5]]', "created_at": registered}],
        )
    same = store.register_experiment("legacy", "l", [("holdout", 0.5), ("v1", 0.5)])
    assert (same.phase, same.started_at, same.created) == (1, registered, False)


def test_losing_a_race_to_the_same_change_records_it_once(sqlite_url, monkeypatch):
    # Between this applier's read and its insert, another replica records the same change.
    store = EventStore.open(sqlite_url)
    other = EventStore.open(sqlite_url)
    store.apply_experiment(STANDING_V1, at=T0)
    real_latest = phases_module.latest_phase
    calls: list = []
    raced: list = []

    def stale_latest(conn, experiment):
        seen = real_latest(conn, experiment)
        if not raced:
            raced.append(True)
            other.apply_experiment(STANDING_V2, at=T0 + timedelta(days=1))  # the other replica wins
        else:
            calls.append(seen)
        return seen

    monkeypatch.setattr(phases_module, "latest_phase", stale_latest)
    applied = store.apply_experiment(STANDING_V2, at=T0 + timedelta(days=1, seconds=2))
    # The other replica's read, then this one's again after the conflict.
    assert [seen.phase for seen in calls] == [1, 2]
    assert (applied.phase, applied.created, applied.started_at) == (2, False, T0 + timedelta(days=1))
    assert [p.phase for p in store.experiment_phases()] == [1, 2]


def test_losing_a_race_to_a_different_change_appends_after_it(sqlite_url, monkeypatch):
    store = EventStore.open(sqlite_url)
    other = EventStore.open(sqlite_url)
    store.apply_experiment(RAMP_START, at=T0)
    real_latest = phases_module.latest_phase
    raced = []

    def stale_latest(conn, experiment):
        seen = real_latest(conn, experiment)
        if not raced:
            raced.append(True)
            other.apply_experiment(RAMP_FULL, at=T0 + timedelta(days=1))
        return seen

    monkeypatch.setattr(phases_module, "latest_phase", stale_latest)
    halfway = ExperimentConfig("v5-challenger", "v5", (("holdout", 0.02), ("v5", 0.25), ("v4", 0.73)))
    applied = store.apply_experiment(halfway, at=T0 + timedelta(days=2))
    assert (applied.phase, applied.created) == (3, True)
    assert [p.arms for p in store.experiment_phases()] == [RAMP_START.arms, RAMP_FULL.arms, halfway.arms]


def test_a_conflict_that_never_clears_is_raised(sqlite_url, monkeypatch):
    store = EventStore.open(sqlite_url)
    store.apply_experiment(STANDING_V1, at=T0)
    monkeypatch.setattr(phases_module, "latest_phase", lambda conn, experiment: None)  # always phase 1 again
    monkeypatch.setattr(phases_module, "_legacy_phase", lambda conn, name, now: None)
    with pytest.raises(Exception, match="UNIQUE constraint failed"):
        store.apply_experiment(STANDING_V2, at=T0 + timedelta(days=1))
    assert len(store.experiment_phases()) == 1


def _replicas_start_at_once(url: str, replicas: int = 6) -> None:
    EventStore.open(url).apply_experiment(STANDING_V1, at=T0)
    barrier = threading.Barrier(replicas)
    results, errors = [], []

    def start() -> None:
        store = EventStore.open(url)
        try:
            barrier.wait()
            results.append(store.apply_experiment(STANDING_V2))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=start) for _ in range(replicas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(result.created for result in results) == 1
    assert {result.phase for result in results} == {2}
    store = EventStore.open(url)
    with store.engine.connect() as conn:
        assert conn.execute(select(experiment_phases.c.phase)).scalars().all() == [1, 2]


def test_replicas_starting_at_once_record_one_phase_sqlite(sqlite_url):
    _replicas_start_at_once(sqlite_url)


@pytest.mark.postgres
def test_replicas_starting_at_once_record_one_phase_postgres(postgres_url):
    _replicas_start_at_once(postgres_url)
