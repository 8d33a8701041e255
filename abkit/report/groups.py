"""The grouped sufficient statistics a report needs, and the interface every backend implements.

A backend (SQL through SQLAlchemy on a database or on exported files) answers each family with a handful of rows per group, so memory is O(groups), never
O(events). Sums of selection time are about a shift per (experiment, model_version, arm) taken
from that arm's own data (:class:`ArmBounds`), which keeps every group's sums of squares exact
whatever the spread of the data across groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

ArmKind = Literal["treatment", "holdout"]
PERCENTILES = (0.5, 0.9, 0.99)


@dataclass(frozen=True)
class Window:
    """What a report covers: one experiment or all, and a half-open time window [since, until)."""

    experiment: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is not None:
                raise ValueError(f"{name}: pass naive UTC datetimes (events are stored as naive UTC)")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"window: since ({self.since}) must be before until ({self.until})")


@dataclass(frozen=True)
class Phase:
    """One definition of an experiment, in force from ``started_at`` until the next phase's.

    ``started_at`` None means "since the beginning" (an experiment registered before phases
    were recorded). ``arms`` keeps the configured order, holdout first.
    """

    experiment: str
    phase: int
    salt: str
    arms: tuple[tuple[str, float], ...]
    started_at: datetime | None

    @property
    def weights(self) -> dict[str, float]:
        return dict(self.arms)


ArmKey = tuple[str, str, str]  # (experiment, model_version, arm)
Grain = Literal["hour", "day"]


def phase_ends(phases: Iterable[Phase]) -> dict[tuple[str, int], datetime | None]:
    """When each (experiment, phase) ended: the start of that experiment's next phase (None: still in force)."""
    ordered = sorted(phases, key=lambda p: (p.experiment, p.phase))
    ends: dict[tuple[str, int], datetime | None] = {}
    for index, phase in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        same = following is not None and following.experiment == phase.experiment
        ends[phase.experiment, phase.phase] = following.started_at if following is not None and same else None
    return ends


def before(moment: datetime, span: timedelta) -> datetime:
    """``moment - span``; the earliest datetime when that falls before year 1 (all the history there is)."""
    try:
        return moment - span
    except OverflowError:
        return datetime.min


@dataclass(frozen=True)
class ArmBounds:
    """One (experiment, model_version, arm): its selections, smallest selection time and time span.

    ``low`` is the shift of every sum of this arm's selection times: a value from the arm's own
    data keeps its sums of squares exact whatever the other arms hold (a constant arm sums to 0).
    """

    experiment: str
    model_version: str
    arm: str
    n: int
    low: float
    first_seen: datetime
    last_seen: datetime

    @property
    def key(self) -> ArmKey:
        return (self.experiment, self.model_version, self.arm)


@dataclass(frozen=True)
class Plan:
    """What the grouped queries need to know up front: each arm's shift, the phases and the time grain."""

    shifts: tuple[tuple[ArmKey, float], ...] = ()
    phases: tuple[Phase, ...] = ()
    grain: Grain = "day"

    def shift_of(self, key: ArmKey) -> float:
        return dict(self.shifts).get(key, 0.0)


@dataclass(frozen=True)
class ArmGroup:
    """Selections of one (experiment, phase, model_version, arm): sample and per-interaction cluster sums.

    Each interaction (advocate_id, case_id) belongs to the phase in force at its first selection
    (the first phase also covers earlier selections; phase 0: the experiment is not registered). ``total``/``total_sq`` are sums of
    x - shift and (x - shift)^2 over selections, with the arm's shift (:class:`ArmBounds`); ``k``
    counts interactions and ``sum_n2``, ``sum_y2``, ``sum_ny`` are sums over interactions of
    n_i^2, y_i^2 and n_i*y_i with y_i the interaction's sum of x - shift.
    """

    experiment: str
    phase: int
    model_version: str
    arm: str
    n: int
    total: float
    total_sq: float
    k: int
    sum_n2: float
    sum_y2: float
    sum_ny: float
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class HitGroup:
    """Holdout selections of one (experiment, model_version, template_id) joined to their prediction."""

    experiment: str
    model_version: str
    template_id: str
    n: int
    top1: int
    top3: int
    top5: int


@dataclass(frozen=True)
class TemplateGroup:
    """Selections of one template in one (experiment, model_version, arm), sums about the arm's shift."""

    template_id: str
    experiment: str
    model_version: str
    arm: str
    n: int
    total: float
    total_sq: float


@dataclass(frozen=True)
class BucketGroup:
    """Selections of one time bucket (hour or day, UTC), experiment, model_version and arm.

    The daily event counts, the weekly rows and the timeline are all roll-ups of these rows, so
    one scan of the selections serves them all.
    """

    start: datetime
    experiment: str
    model_version: str
    arm: str
    n: int
    total: float
    total_sq: float


@dataclass(frozen=True)
class PredictionDay:
    """Predictions of one UTC day, experiment and arm."""

    day: date
    experiment: str
    arm: str
    n: int


@dataclass(frozen=True)
class LatencyGroup:
    """Prediction latency of one model version: count, linear-interpolated percentiles, max."""

    model_version: str
    n: int
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True)
class CaseGroup:
    """Cases with treatment selections of one (experiment, model version): selections and handle time."""

    experiment: str
    model_version: str
    cases: int
    selections: int
    handle_time_sum: float


@dataclass(frozen=True)
class Groups:
    """Every grouped family of one report, as a source returns them."""

    arms: list[ArmGroup]
    hits: list[HitGroup]
    templates: list[TemplateGroup]
    buckets: list[BucketGroup]
    prediction_days: list[PredictionDay]
    latency: list[LatencyGroup]
    cases: list[CaseGroup]
    case_count: int


class StatsSource(Protocol):
    """Grouped sufficient statistics of the events: a cheap first pass, then every family at once."""

    def bounds(self, window: Window) -> list[ArmBounds]:
        """Per (experiment, model_version, arm): selections, smallest time and time span."""
        ...

    def groups(self, window: Window, plan: Plan) -> Groups:
        """Every family, with sums about each arm's shift and interactions assigned to phases."""
        ...

    def experiment_phases(self) -> list[Phase]:
        """Every recorded phase of every experiment, in (experiment, phase) order."""
        ...

    def releases(self) -> dict[str, datetime]:
        """``released_at`` of registered model versions that have one."""
        ...


def interpolate_percentile(low: float, high: float, n: int, fraction: float) -> float:
    """Linear interpolation between the order statistics at 0-based ranks floor(h) and floor(h)+1.

    h = (n - 1) * fraction, as numpy's default ``linear`` method and SQL ``percentile_cont``.
    """
    position = (n - 1) * fraction
    weight = position - int(position)
    return low + (high - low) * weight
