"""Aggregate queries for online monitoring: interaction and CUPED covariate sums per arm and grain, and
case handle time per arm and phase.

Pure SQLAlchemy Core builders like :mod:`abkit.report.queries` (whose per-interaction reduction
and phase assignment they reuse), so every backend (SQLite, DuckDB, PostgreSQL, Trino, exported
files) answers them with a few rows per arm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from abkit.events.schema import cases, selections
from abkit.report.dialects import day_of, hour_of
from abkit.report.groups import Plan, Window, before
from abkit.report.online import GrainGroup, HandleTimeGroup, OnlineGroups, covariate_groups
from abkit.report.queries import _interactions, _phase, _phased, window_filter
from abkit.report.rows import as_datetime, as_float

# Days of an advocate's selections before an experiment began that make its CUPED covariate.
DEFAULT_PRE_PERIOD_DAYS = 28.0


def _pre_period(starts: Mapping[str, datetime], pre_period: timedelta) -> Any:
    """Per (experiment, advocate): the advocate's pre-period mean minus the pre-period grand mean.

    The pre-period of an experiment is [start - pre_period, start): every selection the advocate made
    then, in any experiment or arm (it is before this experiment's assignment, so it cannot depend on
    it). The grand mean is over all selections of that period, so x = 0 stands for "no history".
    """
    s = selections.c
    parts = [
        select(
            literal(name).label("experiment"),
            s.advocate_id,
            func.count().label("pre_n"),
            func.sum(s.selection_time_s).label("pre_sum"),
        )
        .where(s.created_at >= before(start, pre_period), s.created_at < start)
        .group_by(s.advocate_id)
        for name, start in sorted(starts.items())
    ]
    pre = (parts[0] if len(parts) == 1 else union_all(*parts)).cte("pre_period")
    # the grand mean joined rather than a window over pre: SQLite indexes a joined subquery for the
    # join to the interactions only when it has no window function (else a nested scan per interaction)
    grand = (
        select(pre.c.experiment, (func.sum(pre.c.pre_sum) / func.sum(pre.c.pre_n)).label("mean"))
        .group_by(pre.c.experiment)
        .subquery("grand")
    )
    return (
        select(pre.c.experiment, pre.c.advocate_id, (pre.c.pre_sum / pre.c.pre_n - grand.c.mean).label("x"))
        .select_from(pre.join(grand, grand.c.experiment == pre.c.experiment))
        .subquery("covariate")
    )


def with_covariate(
    i: Any, starts: Mapping[str, datetime], pre_period: timedelta, covariate: Any = None
) -> tuple[Any, ColumnElement[Any], ColumnElement[Any]]:
    """The interactions ``i`` joined to their advocate's covariate: (from clause, x, has history).

    x is 0 for an advocate without pre-period selections and for every advocate when no experiment
    has a start; ``covariate`` is the :func:`_pre_period` rows when already materialised.
    """
    if not starts:
        return i.experiment.table, literal(0.0), literal(0)
    covariate = _pre_period(starts, pre_period) if covariate is None else covariate
    joined = i.experiment.table.outerjoin(
        covariate, and_(covariate.c.experiment == i.experiment, covariate.c.advocate_id == i.advocate_id)
    )
    return joined, func.coalesce(covariate.c.x, literal(0.0)), case((covariate.c.x.is_not(None), 1), else_=0)


def covariate_sums(i: Any, x: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """The CUPED sums over interactions (n_i, y_i) with covariate x: n x, n^2 x, n^2 x^2, n x y."""
    nx = i.n_i * x
    return [
        func.sum(nx).label("sum_nx"),
        func.sum(i.n_i * nx).label("sum_n2x"),
        func.sum(nx * nx).label("sum_n2x2"),
        func.sum(nx * i.y_i).label("sum_nxy"),
    ]


def grain_groups_query(
    window: Window,
    plan: Plan,
    starts: Mapping[str, datetime],
    pre_period: timedelta,
    interactions: Any = None,
    covariate: Any = None,
) -> Select:
    """Per (experiment, phase, model_version, arm, grain): interaction-level and CUPED covariate sums.

    The grain (the plan's hour or day) is that of the interaction's first selection, like its phase.
    Each interaction (advocate_id, case_id) of the window contributes n_i and y_i about the arm's
    shift exactly as in the arm groups (k, n, total, sum_n2, sum_y2, sum_ny: a
    :class:`abkit.stats.ClusterSummary`; with total_sq, first_seen and last_seen, summed over the
    grains, the arm groups themselves), and x_i = its advocate's covariate for the experiment (0
    without history) to the sums of n x, n^2 x, n^2 x^2 and n x y (a :class:`abkit.stats.CupedSummary`);
    ``with_history`` counts interactions whose advocate had selections in the pre-period. Summed over
    the grains these are the whole window's CUPED sums; accumulated grain by grain, the confidence
    sequence as of the end of each grain.

    Args:
        window: The report's window.
        plan: The arms' shifts, the phases and the grain (as for the arm groups).
        starts: When each experiment began (its first phase or first selection).
        pre_period: Length of the pre-period before each start.
        interactions: per-interaction rows already reduced (:func:`~abkit.report.scan_queries.interactions_from`);
            None reduces the window's selections here.
        covariate: the :func:`_pre_period` rows already materialised (experiment, advocate_id, x); None
            computes them here.
    """
    if interactions is None:
        interactions = _interactions(window, plan).subquery("interactions").c
    i = _phased(interactions, plan)
    bucket = (hour_of if plan.grain == "hour" else day_of)(i.first_seen)
    source, x, history = with_covariate(i, starts, pre_period, covariate)
    return (
        select(
            i.experiment,
            i.phase,
            i.model_version,
            i.arm,
            bucket.label("start"),
            func.count().label("k"),
            func.sum(i.n_i).label("n"),
            func.sum(i.y_i).label("total"),
            func.sum(i.n_i * i.n_i).label("sum_n2"),
            func.sum(i.y_i * i.y_i).label("sum_y2"),
            func.sum(i.n_i * i.y_i).label("sum_ny"),
            func.sum(i.q_i).label("total_sq"),
            func.min(i.first_seen).label("first_seen"),
            func.max(i.last_seen).label("last_seen"),
            func.sum(history).label("with_history"),
            *covariate_sums(i, x),
        )
        .select_from(source)
        .group_by(i.experiment, i.phase, i.model_version, i.arm, bucket)
    )


def handle_time_groups_query(window: Window, plan: Plan) -> Select:
    """Per (experiment, phase, model_version, arm): cases with a selection in the arm and their handle times.

    A case counts once per arm it has an interaction in, in the phase in force at its first selection
    in that arm (as an interaction belongs to the phase of its first selection), so the guardrail can
    compare the arms within each phase and combine the phases as the primary delta. Sums are about
    the arm's smallest handle time (``low``, over all phases), so the sums of squares stay exact
    whatever the spread across arms.
    """
    s = selections.c
    per_case = (
        select(s.experiment, s.model_version, s.arm, s.case_id, func.min(s.created_at).label("first_seen"))
        .where(*window_filter(selections, window))
        .group_by(s.experiment, s.model_version, s.arm, s.case_id)
        .subquery("arm_cases")
    )
    arm = (per_case.c.experiment, per_case.c.model_version, per_case.c.arm)
    rows = (
        select(
            *arm,
            _phase(per_case.c.experiment, per_case.c.first_seen, plan.phases).label("phase"),
            cases.c.handle_time_s.label("h"),
            func.min(cases.c.handle_time_s).over(partition_by=arm).label("low"),
        )
        .select_from(per_case.join(cases, cases.c.case_id == per_case.c.case_id))
        .subquery("arm_case_times")
    )
    deviation = rows.c.h - rows.c.low
    return select(
        rows.c.experiment,
        rows.c.phase,
        rows.c.model_version,
        rows.c.arm,
        func.count().label("n"),
        func.min(rows.c.low).label("low"),
        func.sum(deviation).label("total"),
        func.sum(deviation * deviation).label("total_sq"),
    ).group_by(rows.c.experiment, rows.c.phase, rows.c.model_version, rows.c.arm)


def grain_group(row: Any) -> GrainGroup:
    """One row of :func:`grain_groups_query` as a :class:`GrainGroup`."""
    return GrainGroup(
        experiment=row.experiment,
        phase=int(row.phase),
        model_version=row.model_version,
        arm=row.arm,
        start=as_datetime(row.start),
        k=int(row.k),
        n=int(as_float(row.n)),
        total=as_float(row.total),
        sum_n2=as_float(row.sum_n2),
        sum_y2=as_float(row.sum_y2),
        sum_ny=as_float(row.sum_ny),
        with_history=int(as_float(row.with_history)),
        sum_nx=as_float(row.sum_nx),
        sum_n2x=as_float(row.sum_n2x),
        sum_n2x2=as_float(row.sum_n2x2),
        sum_nxy=as_float(row.sum_nxy),
        total_sq=as_float(row.total_sq),
        first_seen=as_datetime(row.first_seen),
        last_seen=as_datetime(row.last_seen),
    )


def grain_groups(rows: Iterable[Any]) -> list[GrainGroup]:
    """Rows of :func:`grain_groups_query` as :class:`GrainGroup`."""
    return [grain_group(row) for row in rows]


def handle_time_groups(rows: Iterable[Any]) -> list[HandleTimeGroup]:
    """Rows with experiment, phase, model_version, arm, n, low, total and total_sq as :class:`HandleTimeGroup`."""
    return [
        HandleTimeGroup(
            row.experiment,
            int(row.phase),
            row.model_version,
            row.arm,
            int(row.n),
            as_float(row.low),
            as_float(row.total),
            as_float(row.total_sq),
        )
        for row in rows
    ]


def online_groups(
    run: Callable[[Select], list[Any]],
    window: Window,
    plan: Plan,
    starts: Mapping[str, datetime],
    pre_period_days: float = DEFAULT_PRE_PERIOD_DAYS,
) -> OnlineGroups:
    """Run the two queries with ``run`` (a source's row runner) and read their rows into groups."""
    grains = grain_groups(run(grain_groups_query(window, plan, starts, timedelta(days=pre_period_days))))
    handle_times = handle_time_groups(run(handle_time_groups_query(window, plan)))
    return OnlineGroups(covariate_groups(grains), handle_times, pre_period_days, grains)
