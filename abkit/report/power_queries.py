"""The aggregate query behind power planning: recent traffic and variance per arm, with the CUPED sums.

One statement, beside the report's (:mod:`abkit.report.queries`, :mod:`abkit.report.online_queries`),
reusing their per-interaction reduction and pre-period covariate: per (experiment, model_version,
arm) over a window (the last days of traffic), the interaction-level sums of
:class:`abkit.stats.ClusterSummary`, the covariate sums of :class:`abkit.stats.CupedSummary` and the
first and last selection, so a backend answers with a few rows per arm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.sql.elements import ColumnElement

from abkit.report.groups import ArmBounds, ArmKey, Plan, Window
from abkit.report.online_queries import covariate_sums, with_covariate
from abkit.report.online_sequence import GrainGroup
from abkit.report.queries import _interactions
from abkit.report.rows import as_datetime, as_float


@dataclass(frozen=True)
class PowerGroup:
    """Recent interactions of one (experiment, model_version, arm): cluster and covariate sums.

    Sums of y are about ``shift`` (the arm's shift in the plan); x is the advocate's pre-period
    mean minus the pre-period grand mean (0 without history), as in the report's CUPED.
    """

    experiment: str
    model_version: str
    arm: str
    k: int
    n: int
    sum_y: float
    sum_n2: float
    sum_y2: float
    sum_ny: float
    shift: float
    sum_nx: float
    sum_n2x: float
    sum_n2x2: float
    sum_nxy: float
    first_seen: datetime
    last_seen: datetime


def power_groups_query(
    window: Window,
    plan: Plan,
    starts: Mapping[str, datetime],
    pre_period: timedelta,
    interactions: Any = None,
    covariate: Any = None,
) -> Select:
    """Per (experiment, model_version, arm) of the window: k, sum n, y, n^2, y^2, n y, the covariate sums and the span.

    Args:
        window: The recent traffic to measure (e.g. the last 14 days of an experiment).
        plan: The arms' shifts (phases are not needed: the figures pool the window's phases).
        starts: When each experiment began, for its pre-period covariate; an experiment without
            a start gets x = 0 (no CUPED).
        pre_period: Length of the pre-period before each start.
        interactions: the window's per-interaction rows already reduced (experiment, model_version, arm,
            advocate_id, n_i, y_i, first_seen, last_seen); None reduces the window's selections here.
        covariate: the covariate rows already materialised (experiment, advocate_id, x); None computes them.
    """
    i = _interactions(window, plan).subquery("interactions").c if interactions is None else interactions
    arm = (i.experiment, i.model_version, i.arm)
    columns: list[ColumnElement[Any]] = [
        *arm,
        func.count().label("k"),
        func.sum(i.n_i).label("n"),
        func.sum(i.y_i).label("sum_y"),
        func.sum(i.n_i * i.n_i).label("sum_n2"),
        func.sum(i.y_i * i.y_i).label("sum_y2"),
        func.sum(i.n_i * i.y_i).label("sum_ny"),
        func.min(i.first_seen).label("first_seen"),
        func.max(i.last_seen).label("last_seen"),
    ]
    source, x, _ = with_covariate(i, starts, pre_period, covariate)
    return select(*columns, *covariate_sums(i, x)).select_from(source).group_by(*arm)


def power_groups(
    run: Callable[[Select], list[Any]],
    window: Window,
    plan: Plan,
    starts: Mapping[str, datetime],
    pre_period_days: float,
) -> list[PowerGroup]:
    """Run :func:`power_groups_query` with ``run`` (a source's row runner) and read its rows."""
    return power_group_rows(run(power_groups_query(window, plan, starts, timedelta(days=pre_period_days))), plan)


def power_group_rows(rows: Iterable[Any], plan: Plan) -> list[PowerGroup]:
    """Rows of :func:`power_groups_query` as :class:`PowerGroup`."""
    return [
        PowerGroup(
            experiment=row.experiment,
            model_version=row.model_version,
            arm=row.arm,
            k=int(row.k),
            n=int(as_float(row.n)),
            sum_y=as_float(row.sum_y),
            sum_n2=as_float(row.sum_n2),
            sum_y2=as_float(row.sum_y2),
            sum_ny=as_float(row.sum_ny),
            shift=plan.shift_of((row.experiment, row.model_version, row.arm)),
            sum_nx=as_float(row.sum_nx),
            sum_n2x=as_float(row.sum_n2x),
            sum_n2x2=as_float(row.sum_n2x2),
            sum_nxy=as_float(row.sum_nxy),
            first_seen=as_datetime(row.first_seen),
            last_seen=as_datetime(row.last_seen),
        )
        for row in rows
    ]


def power_from_grains(grains: Sequence[GrainGroup], bounds: Sequence[ArmBounds], plan: Plan) -> list[PowerGroup]:
    """:func:`power_groups` for a window that holds all of the report's traffic: the grain groups' sums.

    Every interaction is in exactly one (phase, grain) group, so summed per arm the grain groups are
    the arm's interaction-level and covariate sums over the window; first and last seen are the arm's
    bounds.
    """
    sums: dict[ArmKey, list[float]] = {}
    for g in grains:
        arm = sums.setdefault((g.experiment, g.model_version, g.arm), [0.0] * 10)
        values = (g.k, g.n, g.total, g.sum_n2, g.sum_y2, g.sum_ny, g.sum_nx, g.sum_n2x, g.sum_n2x2, g.sum_nxy)
        for index, value in enumerate(values):
            arm[index] += value
    spans = {b.key: b for b in bounds}
    return [
        PowerGroup(
            experiment=key[0],
            model_version=key[1],
            arm=key[2],
            k=int(k),
            n=int(n),
            sum_y=sum_y,
            sum_n2=sum_n2,
            sum_y2=sum_y2,
            sum_ny=sum_ny,
            shift=plan.shift_of(key),
            sum_nx=nx,
            sum_n2x=n2x,
            sum_n2x2=n2x2,
            sum_nxy=nxy,
            first_seen=spans[key].first_seen,
            last_seen=spans[key].last_seen,
        )
        for key, (k, n, sum_y, sum_n2, sum_y2, sum_ny, nx, n2x, n2x2, nxy) in sorted(sums.items())
    ]
