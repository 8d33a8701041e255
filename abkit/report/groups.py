"""The grouped sufficient statistics a report needs, and the interface every backend implements.

A backend (SQL through SQLAlchemy on a database or on exported files) answers each family
with a handful of rows per group, so memory is O(groups), never O(events). All sums of
selection time are about one ``shift`` per report (see :meth:`StatsSource.shift`), which
keeps sums of squares small whatever the scale of the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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


@dataclass(frozen=True)
class ArmGroup:
    """Selections of one (experiment, model_version, arm): sample and per-interaction cluster sums.

    ``total``/``total_sq`` are sums of x - shift and (x - shift)^2 over selections; ``k`` counts
    interactions (advocate_id, case_id) and ``sum_n2``, ``sum_y2``, ``sum_ny`` are sums over
    interactions of n_i^2, y_i^2 and n_i*y_i with y_i the interaction's sum of x - shift.
    """

    experiment: str
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
    """Holdout selections of one (model_version, template_id) joined to their prediction."""

    model_version: str
    template_id: str
    n: int
    top1: int
    top3: int
    top5: int


@dataclass(frozen=True)
class TemplateGroup:
    """Selections of one template in one arm kind (sums about the shift)."""

    template_id: str
    arm_kind: str
    n: int
    total: float
    total_sq: float


@dataclass(frozen=True)
class DayGroup:
    """Selections of one UTC day, experiment and arm (sums about the shift).

    The daily event counts and the weekly picture are both roll-ups of these rows, so one scan
    of the selections serves both.
    """

    day: date
    experiment: str
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
class DayCount:
    """Event counts of one UTC day, experiment and arm (a report row)."""

    day: date
    experiment: str
    arm: str
    selections: int
    predictions: int


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
    """Cases with treatment selections of one model version: selections and handle time over them."""

    model_version: str
    cases: int
    selections: int
    handle_time_sum: float


@dataclass(frozen=True)
class Totals:
    """Event counts in the window (cases: those with a selection in the window)."""

    selections: int
    predictions: int
    cases: int


class StatsSource(Protocol):
    """Grouped sufficient statistics of the events, one call per figure family."""

    def shift(self, window: Window) -> float:
        """A selection time from the window (0.0 when it has none): the shift of every sum."""
        ...

    def arm_groups(self, window: Window, shift: float) -> list[ArmGroup]: ...

    def hit_groups(self, window: Window) -> list[HitGroup]: ...

    def template_groups(self, window: Window, shift: float) -> list[TemplateGroup]: ...

    def day_groups(self, window: Window, shift: float) -> list[DayGroup]: ...

    def prediction_days(self, window: Window) -> list[PredictionDay]: ...

    def latency_groups(self, window: Window) -> list[LatencyGroup]: ...

    def case_groups(self, window: Window) -> list[CaseGroup]: ...

    def case_count(self, window: Window) -> int:
        """Cases with at least one selection in the window."""
        ...

    def experiment_weights(self) -> dict[str, dict[str, float]]:
        """Configured arm weights of registered experiments: name -> {arm: weight}."""
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
