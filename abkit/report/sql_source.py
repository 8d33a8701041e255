"""Grouped sufficient statistics pushed down to a SQL database (SQLite, DuckDB, PostgreSQL, Trino).

Each method sends one SQLAlchemy Core query that the database answers with a few rows per
group; Python never sees an event row. Dialect differences (week and day bucketing,
percentiles) live in :mod:`abkit.report.dialects`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine, Integer, Select, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from abkit.events import columns as c
from abkit.events.engine import connect
from abkit.events.schema import cases, experiments, model_versions, predictions, selections
from abkit.report import sqlite_percentiles
from abkit.report.dialects import day_of, percentile, week_start
from abkit.report.groups import (
    PERCENTILES,
    ArmGroup,
    CaseGroup,
    DayGroup,
    HitGroup,
    LatencyGroup,
    PredictionDay,
    TemplateGroup,
    Window,
)

# Concurrent family queries: more than the engine's default pool (5) would queue anyway.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))

# Memory PostgreSQL may use per sort or hash in the report's queries.
POSTGRES_WORK_MEM = "256MB"

# Constants are inlined (not bound) so that an expression in SELECT and in GROUP BY renders
# identically; PostgreSQL otherwise refuses "must appear in the GROUP BY clause".
_HOLDOUT: ColumnElement[str] = literal_column(f"'{c.HOLDOUT_ARM}'")


def arm_kind(arm: ColumnElement) -> ColumnElement:
    """``'holdout'`` for the holdout arm, ``'treatment'`` for every other arm."""
    return case((arm == _HOLDOUT, _HOLDOUT), else_=literal_column("'treatment'"))


def window_filter(table: Any, window: Window) -> list[ColumnElement]:
    """WHERE terms of a report window on an event table with experiment and created_at."""
    terms: list[ColumnElement] = []
    if window.experiment is not None:
        terms.append(table.c.experiment == window.experiment)
    if window.since is not None:
        terms.append(table.c.created_at >= window.since)
    if window.until is not None:
        terms.append(table.c.created_at < window.until)
    return terms


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _float(value: Any) -> float:
    # PostgreSQL returns NUMERIC (Decimal) for SUM over integers.
    return 0.0 if value is None else float(value)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _hits(template: ColumnElement, ranks: Iterable[int]) -> ColumnElement:
    """1 when the selected template is among the prediction's given ranks (NULL ranks never match)."""
    matched = or_(*(template == predictions.c[f"template_id_{rank}"] for rank in ranks))
    return func.sum(case((matched, 1), else_=0))


# -- queries (pure: they build statements, the source runs them) -----------------------------


def arm_groups_query(window: Window, shift: float) -> Select:
    """Per (experiment, model_version, arm): selection sums and per-interaction cluster sums.

    The inner query reduces selections to one row per interaction (advocate_id, case_id) inside
    the database; the outer query sums those rows per arm, so the result has one row per arm.
    """
    s = selections.c
    deviation = s.selection_time_s - literal(shift)
    inner = (
        select(
            s.experiment,
            s.model_version,
            s.arm,
            func.count().label("n_i"),
            func.sum(deviation).label("y_i"),
            func.sum(deviation * deviation).label("q_i"),
            func.min(s.created_at).label("first_seen"),
            func.max(s.created_at).label("last_seen"),
        )
        .where(*window_filter(selections, window))
        .group_by(s.experiment, s.model_version, s.arm, s.advocate_id, s.case_id)
        .subquery("interactions")
    )
    i = inner.c
    return select(
        i.experiment,
        i.model_version,
        i.arm,
        func.sum(i.n_i).label("n"),
        func.sum(i.y_i).label("total"),
        func.sum(i.q_i).label("total_sq"),
        func.count().label("k"),
        func.sum(i.n_i * i.n_i).label("sum_n2"),
        func.sum(i.y_i * i.y_i).label("sum_y2"),
        func.sum(i.n_i * i.y_i).label("sum_ny"),
        func.min(i.first_seen).label("first_seen"),
        func.max(i.last_seen).label("last_seen"),
    ).group_by(i.experiment, i.model_version, i.arm)


def hit_groups_query(window: Window) -> Select:
    """Holdout selections joined to the prediction they answer, top-1/3/5 hits per version and template."""
    s = selections.c
    return (
        select(
            s.model_version,
            s.template_id,
            func.count().label("n"),
            _hits(s.template_id, [1]).label("top1"),
            _hits(s.template_id, [1, 2, 3]).label("top3"),
            _hits(s.template_id, [1, 2, 3, 4, 5]).label("top5"),
        )
        .select_from(selections.join(predictions, predictions.c.prediction_id == s.prediction_id))
        .where(s.arm == c.HOLDOUT_ARM, *window_filter(selections, window))
        .group_by(s.model_version, s.template_id)
    )


def _shifted_sums(shift: float) -> list[ColumnElement]:
    deviation = selections.c.selection_time_s - literal(shift)
    return [
        func.count().label("n"),
        func.sum(deviation).label("total"),
        func.sum(deviation * deviation).label("total_sq"),
    ]


def template_groups_query(window: Window, shift: float) -> Select:
    """Per (template_id, arm kind): selection count and sums about the shift."""
    kind = arm_kind(selections.c.arm)
    return (
        select(selections.c.template_id, kind.label("arm_kind"), *_shifted_sums(shift))
        .where(*window_filter(selections, window))
        .group_by(selections.c.template_id, kind)
    )


def day_groups_query(window: Window, shift: float) -> Select:
    """Per (day, experiment, arm): selection count and sums about the shift.

    The report rolls these rows up into daily event counts and ISO weeks, so one scan serves both.
    """
    day = day_of(selections.c.created_at)
    return (
        select(day.label("day"), selections.c.experiment, selections.c.arm, *_shifted_sums(shift))
        .where(*window_filter(selections, window))
        .group_by(day, selections.c.experiment, selections.c.arm)
    )


def prediction_days_query(window: Window) -> Select:
    """Per (day, experiment, arm): prediction count."""
    day = day_of(predictions.c.created_at)
    return (
        select(day.label("day"), predictions.c.experiment, predictions.c.arm, func.count().label("n"))
        .where(*window_filter(predictions, window))
        .group_by(day, predictions.c.experiment, predictions.c.arm)
    )


def week_groups_query(window: Window, shift: float) -> Select:
    """Per (ISO week, arm kind): selection count and sums about the shift.

    For analysts (sql/reference_*.sql); the report derives weeks from :func:`day_groups_query`.
    """
    kind = arm_kind(selections.c.arm)
    week = week_start(selections.c.created_at)
    return (
        select(week.label("week_start"), kind.label("arm_kind"), *_shifted_sums(shift))
        .where(*window_filter(selections, window))
        .group_by(week, kind)
    )


def latency_query(window: Window) -> Select:
    """Per model version: count, percentiles (percentile aggregate) and max of latency_ms."""
    p = predictions.c
    return (
        select(
            p.model_version,
            func.count().label("n"),
            *(percentile(p.latency_ms, fraction).label(f"p{i}") for i, fraction in enumerate(PERCENTILES)),
            func.max(p.latency_ms).label("max"),
        )
        .where(*window_filter(predictions, window))
        .group_by(p.model_version)
    )


def latency_ranks_query(window: Window) -> Select:
    """For SQLite (no percentile aggregate): the order statistics percentiles interpolate between.

    One window pass numbers each version's latencies; the outer filter keeps, per percentile
    q, the 1-based ranks floor((n-1)q)+1 and +2, and the last rank (the max): a few rows per
    version. SQLite's CAST to INTEGER truncates, i.e. floors these non-negative values.
    """
    p = predictions.c
    numbered = (
        select(
            p.model_version,
            p.latency_ms,
            func.row_number().over(partition_by=p.model_version, order_by=p.latency_ms).label("rank"),
            func.count().over(partition_by=p.model_version).label("n"),
        )
        .where(*window_filter(predictions, window))
        .subquery("numbered")
    )
    r = numbered.c
    wanted = [r.rank == r.n]
    for fraction in PERCENTILES:
        low = cast((r.n - 1) * fraction, Integer) + 1
        wanted += [r.rank == low, r.rank == low + 1]
    return select(r.model_version, r.rank, r.n, r.latency_ms).where(or_(*wanted))


def case_groups_query(window: Window) -> Select:
    """Per model version: cases with treatment selections, their selections and total handle time."""
    s = selections.c
    per_case = (
        select(s.model_version, s.case_id, func.count().label("selections"))
        .where(s.arm != c.HOLDOUT_ARM, *window_filter(selections, window))
        .group_by(s.model_version, s.case_id)
        .subquery("per_case")
    )
    return (
        select(
            per_case.c.model_version,
            func.count().label("cases"),
            func.sum(per_case.c.selections).label("selections"),
            func.sum(cases.c.handle_time_s).label("handle_time_sum"),
        )
        .select_from(per_case.join(cases, cases.c.case_id == per_case.c.case_id))
        .group_by(per_case.c.model_version)
    )


def case_count_query(window: Window) -> Select:
    """Cases that have a selection in the window."""
    case_ids = select(selections.c.case_id).where(*window_filter(selections, window))
    return select(func.count()).select_from(cases).where(cases.c.case_id.in_(case_ids))


def shift_query(window: Window) -> Select:
    """One selection time from the window: a cheap probe (stops at the first matching row)."""
    return select(selections.c.selection_time_s).where(*window_filter(selections, window)).limit(1)


class SqlSource:
    """:class:`~abkit.report.groups.StatsSource` over an event-store database.

    Args:
        engine_or_url: an engine, a database URL (``sqlite:///``, ``duckdb:///``,
            ``postgresql://``, ``trino://``...) or a SQLite file path.
        workers: how many family queries run at once (default: CPU count, at most 4; 1 runs
            them one after another).
    """

    def __init__(self, engine_or_url: Engine | str, *, workers: int | None = None):
        self.engine = engine_or_url if isinstance(engine_or_url, Engine) else connect(engine_or_url)
        database = self.engine.url.database or ""
        in_memory = self.engine.dialect.name in ("sqlite", "duckdb") and database in ("", ":memory:")
        # One connection per query; an in-memory database lives in a single connection.
        self.workers = 1 if in_memory else (workers if workers is not None else DEFAULT_WORKERS)
        self._shifts: dict[Window, float] = {}
        self._cached: tuple[tuple[Window, float], dict[str, list[Any]]] | None = None

    def _rows(self, query: Select) -> list[Any]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Per-interaction hash aggregates outgrow the 4 MB default and spill to disk;
                # SET LOCAL lasts for this transaction only, so pooled connections stay as they were.
                conn.exec_driver_sql(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
            return list(conn.execute(query).all())

    def shift(self, window: Window) -> float:
        if window not in self._shifts:
            rows = self._rows(shift_query(window))
            self._shifts[window] = float(rows[0][0]) if rows else 0.0
        return self._shifts[window]

    def queries(self, window: Window, shift: float) -> dict[str, Select]:
        """Every family's statement for this engine's dialect, by name (SQLite latency aside)."""
        sqlite_engine = self.engine.dialect.name == "sqlite"
        statements = {
            "arms": arm_groups_query(window, shift),
            "hits": hit_groups_query(window),
            "templates": template_groups_query(window, shift),
            "days": day_groups_query(window, shift),
            "prediction_days": prediction_days_query(window),
            "cases": case_groups_query(window),
            "case_count": case_count_query(window),
        }
        if not sqlite_engine:  # SQLite has no percentile aggregate: two passes, see _batch
            statements["latency"] = latency_query(window)
        return statements

    def _batch(self, window: Window, shift: float | None = None) -> dict[str, list[Any]]:
        """Run every family's query at once, each on its own pooled connection, and keep the rows.

        The database works on the queries side by side (SQLite readers, PostgreSQL backends and
        DuckDB connections all run concurrently), so the report's wall time approaches that of
        its longest query rather than their sum. The rows of the last window are kept.
        """
        shift = self.shift(window) if shift is None else shift
        if self._cached is None or self._cached[0] != (window, shift):
            jobs: dict[str, Callable[[], list[Any]]] = {
                name: partial(self._rows, statement) for name, statement in self.queries(window, shift).items()
            }
            if self.engine.dialect.name == "sqlite":
                jobs["latency"] = partial(sqlite_percentiles.latency_groups, self._rows, window)
            if self.workers <= 1:
                rows = {name: job() for name, job in jobs.items()}
            else:
                with ThreadPoolExecutor(max_workers=self.workers) as pool:
                    futures = {name: pool.submit(job) for name, job in jobs.items()}
                    rows = {name: future.result() for name, future in futures.items()}
            self._cached = ((window, shift), rows)
        return self._cached[1]

    def arm_groups(self, window: Window, shift: float) -> list[ArmGroup]:
        return [
            ArmGroup(
                experiment=row.experiment,
                model_version=row.model_version,
                arm=row.arm,
                n=_int(row.n),
                total=_float(row.total),
                total_sq=_float(row.total_sq),
                k=_int(row.k),
                sum_n2=_float(row.sum_n2),
                sum_y2=_float(row.sum_y2),
                sum_ny=_float(row.sum_ny),
                first_seen=row.first_seen,
                last_seen=row.last_seen,
            )
            for row in self._batch(window, shift)["arms"]
        ]

    def hit_groups(self, window: Window) -> list[HitGroup]:
        return [
            HitGroup(row.model_version, row.template_id, _int(row.n), _int(row.top1), _int(row.top3), _int(row.top5))
            for row in self._batch(window)["hits"]
        ]

    def template_groups(self, window: Window, shift: float) -> list[TemplateGroup]:
        return [
            TemplateGroup(row.template_id, row.arm_kind, _int(row.n), _float(row.total), _float(row.total_sq))
            for row in self._batch(window, shift)["templates"]
        ]

    def day_groups(self, window: Window, shift: float) -> list[DayGroup]:
        return [
            DayGroup(_date(row.day), row.experiment, row.arm, _int(row.n), _float(row.total), _float(row.total_sq))
            for row in self._batch(window, shift)["days"]
        ]

    def prediction_days(self, window: Window) -> list[PredictionDay]:
        return [
            PredictionDay(_date(row.day), row.experiment, row.arm, _int(row.n))
            for row in self._batch(window)["prediction_days"]
        ]

    def latency_groups(self, window: Window) -> list[LatencyGroup]:
        if self.engine.dialect.name == "sqlite":
            return list(self._batch(window)["latency"])
        return [
            LatencyGroup(row.model_version, _int(row.n), *(_float(row[2 + i]) for i in range(4)))
            for row in self._batch(window)["latency"]
        ]

    def case_groups(self, window: Window) -> list[CaseGroup]:
        return [
            CaseGroup(row.model_version, _int(row.cases), _int(row.selections), _float(row.handle_time_sum))
            for row in self._batch(window)["cases"]
        ]

    def case_count(self, window: Window) -> int:
        return _int(self._batch(window)["case_count"][0][0])

    def experiment_weights(self) -> dict[str, dict[str, float]]:
        rows = self._rows(select(experiments.c.name, experiments.c.arms_json))
        return {name: {str(arm): float(weight) for arm, weight in json.loads(arms)} for name, arms in rows}

    def releases(self) -> dict[str, datetime]:
        rows = self._rows(
            select(model_versions.c.model_version, model_versions.c.released_at).where(
                model_versions.c.released_at.is_not(None)
            )
        )
        return {version: released for version, released in rows}
