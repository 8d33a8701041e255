"""The report's one scan of the selections, and every family derived from what it keeps (pure builders).

:func:`selection_groups_query` reads the selections once and groups them three ways at once
(``GROUPING SETS``): by interaction (experiment, model_version, arm, advocate_id, case_id), by
template and by hour, each within its arm. Every group keeps its count, its mean and the sum of
squared deviations about that mean (``var_pop * n``: Welford-type, exact however far the values
sit from zero), its smallest selection time and its first and last ``created_at``. The source
materialises these rows once per report (:class:`MaterializeAs`); the bounds, the arm sums, the
templates, the time buckets, the cases (:mod:`abkit.report.case_queries`) and the online figures
are then small queries over them.

Moments about a group's own mean ``c`` move exactly to an arm's shift ``s``: with ``d = c - s``,
sum(x - s) = n d and sum((x - s)^2) = M2 + n d^2, so the per-arm shift need not be known before
the scan (it is the smallest time of the arm, a MIN over the hour rows).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CompoundSelect,
    DateTime,
    Double,
    Integer,
    Select,
    String,
    and_,
    cast,
    column,
    func,
    literal,
    literal_column,
    null,
    select,
    table,
    tuple_,
    union_all,
    values,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.expression import case

from abkit.events import columns as c
from abkit.events.schema import selections
from abkit.report.dialects import day_of, hour_of
from abkit.report.groups import Plan, Window
from abkit.report.queries import _deviation, arm_shift, window_filter

# Tags of the grouping sets in the ``family`` column of the scan's rows.
INTERACTION, TEMPLATE, HOUR = 0, 1, 2

_KEYS = (c.EXPERIMENT, c.MODEL_VERSION, c.ARM)


def _moments(time: Any, created_at: Any) -> list[Any]:
    return [
        func.count().label("n"),
        func.avg(time).label("center"),
        # var_pop * n: the sum of squared deviations about the group's mean (0 for one selection)
        (func.var_pop(time) * func.count()).label("m2"),
        func.min(time).label("low"),
        func.min(created_at).label("first_seen"),
        func.max(created_at).label("last_seen"),
    ]


def selection_groups_query(window: Window, *, grouping_sets: bool = True) -> Select | CompoundSelect:
    """Selections of the window grouped by interaction, by template and by hour (each per arm).

    One scan with ``GROUPING SETS``; ``grouping_sets=False`` gives the same rows as a ``UNION ALL``
    of three ``GROUP BY`` (PostgreSQL: its grouping sets sort the selections once per set when the
    interactions outgrow work_mem, where three hashed aggregates each read them once: 2.7x faster
    at 10M selections, ``bench/bench_scan_forms.py``).
    """
    s = selections.c
    arm = (s.experiment, s.model_version, s.arm)
    hour = hour_of(s.created_at)
    moments = _moments(s.selection_time_s, s.created_at)
    where = window_filter(selections, window)
    if not grouping_sets:
        no_text, no_time = cast(null(), String()), cast(null(), DateTime())
        parts = [
            (INTERACTION, (s.advocate_id, s.case_id, no_text, no_time), (s.advocate_id, s.case_id)),
            (TEMPLATE, (no_text, no_text, s.template_id, no_time), (s.template_id,)),
            (HOUR, (no_text, no_text, no_text, hour), (hour,)),
        ]
        names = (c.ADVOCATE_ID, c.CASE_ID, c.TEMPLATE_ID, "hour")
        return union_all(
            *(
                select(
                    literal_column(str(tag)).label("family"),
                    *arm,
                    *(value.label(name) for value, name in zip(values, names, strict=True)),
                    *moments,
                )
                .where(*where)
                .group_by(*arm, *keys)
                for tag, values, keys in parts
            )
        )
    family = case(
        (func.grouping(s.case_id) == 0, literal_column(str(INTERACTION))),
        (func.grouping(s.template_id) == 0, literal_column(str(TEMPLATE))),
        else_=literal_column(str(HOUR)),
    )
    return (
        select(family.label("family"), *arm, s.advocate_id, s.case_id, s.template_id, hour.label("hour"), *moments)
        .where(*where)
        .group_by(
            func.grouping_sets(
                tuple_(*arm, s.advocate_id, s.case_id),
                tuple_(*arm, s.template_id),
                tuple_(*arm, hour),
            )
        )
    )


def reduced_table(name: str) -> Any:
    """The materialised rows of :func:`selection_groups_query` under ``name`` (a table-like clause)."""
    return table(
        name,
        column("family", Integer()),
        *(column(key, String()) for key in _KEYS),
        column(c.ADVOCATE_ID, String()),
        column(c.CASE_ID, String()),
        column(c.TEMPLATE_ID, String()),
        column("hour", DateTime()),
        column("n", Integer()),
        column("center", Double()),
        column("m2", Double()),
        column("low", Double()),
        column("first_seen", DateTime()),
        column("last_seen", DateTime()),
    )


def _about_shift(r: Any, plan: Plan) -> tuple[ColumnElement, ColumnElement]:
    """A group's sum of x - s and of (x - s)^2 about its arm's shift s, from its mean and M2."""
    d = r.center - arm_shift(plan, r.experiment, r.model_version, r.arm)
    return r.n * d, r.m2 + r.n * d * d


def bounds_from(r: Any) -> Select:
    """:func:`~abkit.report.queries.bounds_query` from the hour rows (a few per arm and hour)."""
    return (
        select(
            r.experiment,
            r.model_version,
            r.arm,
            func.sum(r.n).label("n"),
            func.min(r.low).label("low"),
            func.min(r.first_seen).label("first_seen"),
            func.max(r.last_seen).label("last_seen"),
        )
        .where(r.family == HOUR)
        .group_by(r.experiment, r.model_version, r.arm)
    )


def _shift_table(plan: Plan) -> Any:
    """The plan's arm shifts as an inline table (experiment, model_version, arm, shift), or None without any."""
    if not plan.shifts:
        return None
    rows = [(name, version, arm, shift) for (name, version, arm), shift in plan.shifts]
    return values(
        column(c.EXPERIMENT, String()),
        column(c.MODEL_VERSION, String()),
        column(c.ARM, String()),
        column("shift", Double()),
        name="shifts",
        literal_binds=True,
    ).data(rows)


def _interaction_keys(r: Any) -> tuple[ColumnElement, ...]:
    """An interaction row's keys and its selection count n_i."""
    return (r.experiment, r.model_version, r.arm, r.advocate_id, r.case_id, r.n.label("n_i"))


def interactions_from(r: Any, plan: Plan) -> Any:
    """Per-interaction rows with the columns of :func:`~abkit.report.queries._interactions` (n_i, y_i, q_i...).

    The arm's shift comes from a join to the plan's shifts (an inline table of a few rows), not
    from :func:`~abkit.report.queries.arm_shift`'s CASE over every arm: PostgreSQL substitutes the
    subquery's expressions where they are used and would evaluate that CASE once per use of y_i
    and q_i in every row.
    """
    shifts = _shift_table(plan)
    source: Any = r.n.table
    shift: ColumnElement = literal(0.0)
    if shifts is not None:
        keys = (c.EXPERIMENT, c.MODEL_VERSION, c.ARM)
        source = source.outerjoin(shifts, and_(*(r[k] == shifts.c[k] for k in keys)))
        shift = func.coalesce(shifts.c.shift, literal(0.0))
    d = r.center - shift
    return (
        select(
            *_interaction_keys(r),
            (r.n * d).label("y_i"),
            (r.m2 + r.n * d * d).label("q_i"),
            r.first_seen,
            r.last_seen,
        )
        .select_from(source)
        .where(r.family == INTERACTION)
        .subquery("interactions")
        .c
    )


def interaction_keys_from(r: Any) -> Any:
    """Per-interaction rows without the sums about the arm's shift (keys, n_i, first and last seen):
    what the cases and the power period's straddlers read, with no join to the shifts."""
    return (
        select(
            *_interaction_keys(r),
            r.first_seen,
            r.last_seen,
        )
        .where(r.family == INTERACTION)
        .subquery("interactions")
        .c
    )


def recent_interactions_from(r: Any, plan: Plan, recent: Window, straddle_end: Any) -> Any:
    """Per-interaction rows (as :func:`interactions_from`) of the selections in ``recent``, a later
    part of the scan's window (from ``recent.since`` to its end).

    An interaction that began at or after ``recent.since`` is the scan's row as it is. One that began
    before and ended after (it straddles the start) is re-read from the selections between
    ``recent.since`` and ``straddle_end``, the last selection of any straddling interaction (None:
    there is none): a slice of minutes to hours, where the rest of the window is not read again.
    """
    i = interactions_from(r, plan)
    keys = (i.experiment, i.model_version, i.arm, i.advocate_id, i.case_id)
    since = recent.since
    later = select(*keys, i.n_i, i.y_i, i.first_seen, i.last_seen).where(i.first_seen >= since)
    if straddle_end is None:
        return later.subquery("recent").c
    s = selections.c
    selection_keys = (s.experiment, s.model_version, s.arm, s.advocate_id, s.case_id)
    part = (
        select(
            *selection_keys,
            func.count().label("n_i"),
            func.sum(_deviation(plan)).label("y_i"),
            func.min(s.created_at).label("first_seen"),
            func.max(s.created_at).label("last_seen"),
        )
        .where(*window_filter(selections, recent), s.created_at <= straddle_end)
        .group_by(*selection_keys)
        .subquery("straddling_part")
    )
    straddling = select(*keys).where(i.first_seen < since, i.last_seen >= since).subquery("straddling")
    rest = select(*part.c).select_from(
        part.join(straddling, and_(*(part.c[k.name] == straddling.c[k.name] for k in keys)))
    )
    return union_all(later, rest).subquery("recent").c


def straddle_end_query(r: Any, since: Any) -> Select:
    """The last selection of the interactions that began before ``since`` and ended at or after it."""
    i = interaction_keys_from(r)
    return select(func.max(i.last_seen)).where(i.first_seen < since, i.last_seen >= since)


def covariate_table(name: str) -> Any:
    """The materialised CUPED covariate rows (experiment, advocate_id, x) under ``name``."""
    return table(name, column(c.EXPERIMENT, String()), column(c.ADVOCATE_ID, String()), column("x", Double()))


def template_groups_from(r: Any, plan: Plan) -> Select:
    """:func:`~abkit.report.queries.template_groups_query` from the template rows."""
    total, total_sq = _about_shift(r, plan)
    return select(
        r.template_id,
        r.experiment,
        r.model_version,
        r.arm,
        r.n,
        total.label("total"),
        total_sq.label("total_sq"),
    ).where(r.family == TEMPLATE)


def bucket_groups_from(r: Any, plan: Plan) -> Select:
    """:func:`~abkit.report.queries.bucket_groups_query` from the hour rows, rolled up to days for a day grain."""
    total, total_sq = _about_shift(r, plan)
    bucket: ColumnElement = r.hour if plan.grain == "hour" else day_of(r.hour)
    return (
        select(
            bucket.label("start"),
            r.experiment,
            r.model_version,
            r.arm,
            func.sum(r.n).label("n"),
            func.sum(total).label("total"),
            func.sum(total_sq).label("total_sq"),
        )
        .where(r.family == HOUR)
        .group_by(bucket, r.experiment, r.model_version, r.arm)
    )


class MaterializeAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS query``; on Spark ``CACHE TABLE name AS query`` (a cached temp view)."""

    inherit_cache = False

    def __init__(self, name: str, query: Select | CompoundSelect):
        self.name = name
        self.query = query


class DropMaterialized(Executable, ClauseElement):
    """Drops what :class:`MaterializeAs` made (Spark: uncaches and drops the view)."""

    inherit_cache = False

    def __init__(self, name: str):
        self.name = name


@compiles(MaterializeAs)
def _materialize(element: MaterializeAs, compiler: Any, **kw: Any) -> str:
    name = compiler.preparer.quote(element.name)
    return f"CREATE TEMPORARY TABLE {name} AS {compiler.process(element.query, **kw)}"


@compiles(MaterializeAs, "spark")
def _materialize_spark(element: MaterializeAs, compiler: Any, **kw: Any) -> str:
    name = compiler.preparer.quote(element.name)
    return f"CACHE TABLE {name} AS {compiler.process(element.query, **kw)}"


@compiles(DropMaterialized)
def _drop(element: DropMaterialized, compiler: Any, **kw: Any) -> str:
    return f"DROP TABLE IF EXISTS {compiler.preparer.quote(element.name)}"


@compiles(DropMaterialized, "spark")
def _drop_spark(element: DropMaterialized, compiler: Any, **kw: Any) -> str:
    return f"DROP VIEW IF EXISTS {compiler.preparer.quote(element.name)}"
