"""Experiment phases: every definition an experiment has had, appended, never overwritten.

A phase is one (salt, weights) of an experiment, in force from its ``started_at`` until the
next phase's. :func:`apply_definition` appends a phase when a definition differs from the
experiment's latest one and is a no-op otherwise, so that running it again (a restart, a
second replica, ``abkit experiments apply`` twice) changes nothing. The ``experiments``
table keeps the current definition of each experiment beside the history.

Two appliers racing (two service replicas starting at once) both try to insert the same
``(experiment, phase)``; the primary key lets one win, and the other reads the history
again, finds the definition it wanted already in force, and reports it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from abkit.events.schema import experiment_phases, experiments, selections

Arms = tuple[tuple[str, float], ...]
_ATTEMPTS = 5  # a lost race is retried; more than a few losses in a row means something else is wrong


class PhaseError(ValueError):
    """A phase that cannot be recorded (e.g. one that would start before the latest phase)."""


class Definition(Protocol):
    """What a phase records: ``abkit.assignment.ExperimentConfig`` is one."""

    @property
    def name(self) -> str: ...

    @property
    def salt(self) -> str: ...

    @property
    def arms(self) -> Sequence[tuple[str, float]]: ...


@dataclass(frozen=True)
class ExperimentPhase:
    """One stored phase of an experiment.

    Attributes:
        experiment: the experiment's name.
        phase: 1, 2, ... in time order.
        salt: the assignment salt in force.
        arms: (arm, weight) pairs, holdout first, in the configured order.
        started_at: when the definition took effect (naive UTC).
        recorded_at: when the phase was written (naive UTC).
    """

    experiment: str
    phase: int
    salt: str
    arms: Arms
    started_at: datetime
    recorded_at: datetime

    def same_definition(self, salt: str, arms: Arms) -> bool:
        return self.salt == salt and self.arms == arms


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_definition` did for one experiment.

    Attributes:
        experiment: the experiment's name.
        phase: the phase now in force (the new one, or the latest when unchanged).
        started_at: when that phase took effect.
        created: True when a new phase was recorded, False when the definition was unchanged.
    """

    experiment: str
    phase: int
    started_at: datetime
    created: bool


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as the store keeps timestamps: naive UTC (an aware time is converted)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def normalise_arms(arms: Sequence[tuple[str, float]]) -> Arms:
    return tuple((str(arm), float(weight)) for arm, weight in arms)


def _arms_json(arms: Arms) -> str:
    return json.dumps([[arm, weight] for arm, weight in arms])


def _phase_from_row(row) -> ExperimentPhase:
    return ExperimentPhase(
        experiment=row.experiment,
        phase=int(row.phase),
        salt=row.salt,
        arms=normalise_arms(json.loads(row.arms_json)),
        started_at=row.started_at,
        recorded_at=row.recorded_at,
    )


def list_phases(conn: Connection, experiment: str | None = None) -> list[ExperimentPhase]:
    """Stored phases, by experiment then phase number (one experiment's when named)."""
    query = select(experiment_phases).order_by(experiment_phases.c.experiment, experiment_phases.c.phase)
    if experiment is not None:
        query = query.where(experiment_phases.c.experiment == experiment)
    return [_phase_from_row(row) for row in conn.execute(query)]


def latest_phase(conn: Connection, experiment: str) -> ExperimentPhase | None:
    """The experiment's phase with the highest number, or None when it has none."""
    row = conn.execute(
        select(experiment_phases)
        .where(experiment_phases.c.experiment == experiment)
        .order_by(experiment_phases.c.phase.desc())
        .limit(1)
    ).first()
    return _phase_from_row(row) if row is not None else None


def _set_current(conn: Connection, name: str, salt: str, arms: Arms, now: datetime) -> None:
    """Make the ``experiments`` row of ``name`` the given definition (what the service validates)."""
    row = conn.execute(select(experiments.c.salt, experiments.c.arms_json).where(experiments.c.name == name)).first()
    if row is not None and row.salt == salt and normalise_arms(json.loads(row.arms_json)) == arms:
        return
    conn.execute(experiments.delete().where(experiments.c.name == name))
    conn.execute(insert(experiments), [{"name": name, "salt": salt, "arms_json": _arms_json(arms), "created_at": now}])


def _legacy_phase(conn: Connection, name: str, now: datetime) -> dict | None:
    """Phase 1 for an experiment registered before phases were kept (its ``experiments`` row).

    It is taken to have been in force since the experiment's first selection (or since it was
    registered, when that is earlier or it has none), so that earlier events keep a phase.
    """
    row = conn.execute(
        select(experiments.c.salt, experiments.c.arms_json, experiments.c.created_at).where(experiments.c.name == name)
    ).first()
    if row is None:
        return None
    first_selection = conn.execute(
        select(func.min(selections.c.created_at)).where(selections.c.experiment == name)
    ).scalar()
    started = min(moment for moment in (row.created_at, first_selection) if moment is not None)
    return {
        "experiment": name,
        "phase": 1,
        "salt": row.salt,
        "arms_json": _arms_json(normalise_arms(json.loads(row.arms_json))),
        "started_at": started,
        "recorded_at": now,
    }


def _apply_once(conn: Connection, name: str, salt: str, arms: Arms, at: datetime, now: datetime) -> Applied:
    latest = latest_phase(conn, name)
    if latest is None:
        legacy = _legacy_phase(conn, name, now)
        if legacy is not None:
            conn.execute(insert(experiment_phases), [legacy])
            latest = latest_phase(conn, name)
    if latest is not None and latest.same_definition(salt, arms):
        _set_current(conn, name, salt, arms, now)
        return Applied(name, latest.phase, latest.started_at, created=False)
    if latest is not None and at < latest.started_at:
        raise PhaseError(
            f"experiment {name!r}: a new phase cannot start at {at.isoformat(sep=' ')}, before its phase "
            f"{latest.phase} started ({latest.started_at.isoformat(sep=' ')})"
        )
    number = 1 if latest is None else latest.phase + 1
    conn.execute(
        insert(experiment_phases),
        [
            {
                "experiment": name,
                "phase": number,
                "salt": salt,
                "arms_json": _arms_json(arms),
                "started_at": at,
                "recorded_at": now,
            }
        ],
    )
    _set_current(conn, name, salt, arms, now)
    return Applied(name, number, at, created=True)


def apply_definition(engine: Engine, definition: Definition, at: datetime | None = None) -> Applied:
    """Record ``definition`` as the experiment's new phase from ``at``, unless it is already in force.

    Args:
        engine: the event store's engine.
        definition: name, salt and ordered (arm, weight) pairs, holdout first.
        at: when the definition takes effect (naive UTC, or aware and converted); now by default.

    Returns:
        The phase in force afterwards and whether it is new.

    Raises:
        PhaseError: the definition differs from the latest phase and ``at`` is before that
            phase's start (phases are in time order), naming both times.
    """
    return apply_definitions(engine, [definition], at)[0]


def apply_definitions(engine: Engine, definitions: Sequence[Definition], at: datetime | None = None) -> list[Applied]:
    """:func:`apply_definition` for several experiments in one transaction: all are recorded, or none.

    Raises:
        PhaseError: one of them would start before its experiment's latest phase (nothing is written).
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    moment = now if at is None else naive_utc(at)
    wanted = [(d.name, d.salt, normalise_arms(d.arms)) for d in definitions]
    for attempt in range(_ATTEMPTS):
        try:
            with engine.begin() as conn:
                return [_apply_once(conn, name, salt, arms, moment, now) for name, salt, arms in wanted]
        except IntegrityError:
            # Another applier inserted one of these phase numbers first: read the history again.
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
