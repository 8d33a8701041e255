"""Grouped sufficient statistics pushed down to a SQL database (SQLite, DuckDB, PostgreSQL, Trino).

Each method sends one SQLAlchemy Core query that the database answers with a few rows per
group; Python never sees an event row. Dialect differences (week and day bucketing,
percentiles) live in :mod:`abkit.report.dialects`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from functools import partial
from typing import Any

from sqlalchemy import CompoundSelect, Engine, Select, inspect, select

from abkit.events.engine import connect
from abkit.events.schema import experiment_phases, experiments, model_versions
from abkit.report import sqlite_percentiles
from abkit.report.groups import (
    ArmBounds,
    ArmGroup,
    BucketGroup,
    CaseGroup,
    Groups,
    HitGroup,
    LatencyGroup,
    Phase,
    Plan,
    PredictionDay,
    TemplateGroup,
    Window,
)
from abkit.report.online import OnlineGroups
from abkit.report.online_queries import online_groups
from abkit.report.power_queries import PowerGroup, power_groups
from abkit.report.queries import (
    ARMS_FAMILY,
    CASE_COUNT_FAMILY,
    CASES_FAMILY,
    arm_groups_query,
    bounds_query,
    bucket_groups_query,
    case_count_query,
    case_groups_query,
    hit_groups_query,
    interaction_families_query,
    latency_query,
    prediction_days_query,
    template_groups_query,
)

# Concurrent family queries: more than the engine's default pool (5) would queue anyway.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))

# Memory PostgreSQL may use per sort or hash in the report's queries.
POSTGRES_WORK_MEM = "256MB"


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _float(value: Any) -> float:
    # PostgreSQL returns NUMERIC (Decimal) for SUM over integers.
    return 0.0 if value is None else float(value)


def _datetime(value: Any) -> datetime:
    # SQLite returns the text of strftime buckets; drivers return datetimes for columns.
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _arms(arms_json: str) -> tuple[tuple[str, float], ...]:
    return tuple((str(arm), float(weight)) for arm, weight in json.loads(arms_json))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# Dialects that run arms, cases and the case count as three queries on three connections rather
# than one UNION ALL over a shared CTE: on PostgreSQL the merged statement runs in one backend,
# one branch after another, and measured slower (bench/bench_report.py at 1M: 5.5 s vs 3.7 s).
SEPARATE_INTERACTION_FAMILIES = frozenset({"postgresql"})


def _split_families(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Arms rows, :class:`CaseGroup` list and case count, from the merged or the separate queries."""
    families = rows.pop("interactions", None)
    if families is None:
        cases = [
            CaseGroup(
                row.experiment, row.model_version, _int(row.cases), _int(row.selections), _float(row.handle_time_sum)
            )
            for row in rows["cases"]
        ]
        return {**rows, "cases": cases, "case_count": [_int(rows["case_count"][0][0])]}
    return {
        **rows,
        "arms": [row for row in families if row.family == ARMS_FAMILY],
        "cases": [
            CaseGroup(row.experiment, row.model_version, _int(row.k), _int(row.n), _float(row.total))
            for row in families
            if row.family == CASES_FAMILY
        ],
        "case_count": [_int(row.k) for row in families if row.family == CASE_COUNT_FAMILY],
    }


class SqlSource:
    """:class:`~abkit.report.groups.StatsSource` over an event-store database.

    Args:
        engine_or_url: an engine, a database URL (``sqlite:///``, ``duckdb:///``,
            ``postgresql://``, ``trino://``...) or a SQLite file path.
        workers: how many family queries run at once (default: CPU count, at most 4; 1 runs
            them one after another).
    """

    def __init__(self, engine_or_url: Engine | str, *, workers: int | None = None):
        self._owns_engine = not isinstance(engine_or_url, Engine)
        self.engine = engine_or_url if isinstance(engine_or_url, Engine) else connect(engine_or_url)
        database = self.engine.url.database or ""
        in_memory = self.engine.dialect.name in ("sqlite", "duckdb") and database in ("", ":memory:")
        # One connection per query; an in-memory database lives in a single connection.
        self.workers = 1 if in_memory else (workers if workers is not None else DEFAULT_WORKERS)

    def close(self) -> None:
        """Dispose of the engine when this source opened it from a URL (a given engine stays open)."""
        if self._owns_engine:
            self.engine.dispose()

    def _rows(self, query: Select | CompoundSelect) -> list[Any]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Per-interaction hash aggregates outgrow the 4 MB default and spill to disk;
                # SET LOCAL lasts for this transaction only, so pooled connections stay as they were.
                conn.exec_driver_sql(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
            return list(conn.execute(query).all())

    def bounds(self, window: Window) -> list[ArmBounds]:
        return [
            ArmBounds(
                row.experiment,
                row.model_version,
                row.arm,
                _int(row.n),
                _float(row.low),
                _datetime(row.first_seen),
                _datetime(row.last_seen),
            )
            for row in self._rows(bounds_query(window))
        ]

    def queries(self, window: Window, plan: Plan) -> dict[str, Select | CompoundSelect]:
        """The statements for this engine's dialect, by name (SQLite latency aside).

        ``interactions`` answers three families (arms, cases, case count) from one scan; see
        :func:`~abkit.report.queries.interaction_families_query`.
        """
        statements: dict[str, Select | CompoundSelect] = {
            "hits": hit_groups_query(window),
            "templates": template_groups_query(window, plan),
            "buckets": bucket_groups_query(window, plan),
            "prediction_days": prediction_days_query(window),
        }
        if self.engine.dialect.name in SEPARATE_INTERACTION_FAMILIES:
            statements["arms"] = arm_groups_query(window, plan)
            statements["cases"] = case_groups_query(window)
            statements["case_count"] = case_count_query(window)
        else:
            statements["interactions"] = interaction_families_query(window, plan)
        if self.engine.dialect.name != "sqlite":  # SQLite has no percentile aggregate: two passes
            statements["latency"] = latency_query(window)
        return statements

    def _run_all(self, window: Window, plan: Plan) -> dict[str, list[Any]]:
        """Run every family's query at once, each on its own pooled connection.

        The database works on the queries side by side (SQLite readers, PostgreSQL backends and
        DuckDB connections all run concurrently), so the report's wall time approaches that of
        its longest query rather than their sum.
        """
        jobs: dict[str, Callable[[], list[Any]]] = {
            name: partial(self._rows, statement) for name, statement in self.queries(window, plan).items()
        }
        if self.engine.dialect.name == "sqlite":
            jobs["latency"] = partial(sqlite_percentiles.latency_groups, self._rows, window)
        if self.workers <= 1:
            return {name: job() for name, job in jobs.items()}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            return {name: future.result() for name, future in futures.items()}

    def groups(self, window: Window, plan: Plan) -> Groups:
        rows = _split_families(self._run_all(window, plan))
        return Groups(
            arms=[
                ArmGroup(
                    experiment=row.experiment,
                    phase=_int(row.phase),
                    model_version=row.model_version,
                    arm=row.arm,
                    n=_int(row.n),
                    total=_float(row.total),
                    total_sq=_float(row.total_sq),
                    k=_int(row.k),
                    sum_n2=_float(row.sum_n2),
                    sum_y2=_float(row.sum_y2),
                    sum_ny=_float(row.sum_ny),
                    first_seen=_datetime(row.first_seen),
                    last_seen=_datetime(row.last_seen),
                )
                for row in rows["arms"]
            ],
            hits=[
                HitGroup(
                    row.experiment,
                    row.model_version,
                    row.template_id,
                    _int(row.n),
                    _int(row.top1),
                    _int(row.top3),
                    _int(row.top5),
                )
                for row in rows["hits"]
            ],
            templates=[
                TemplateGroup(
                    row.template_id,
                    row.experiment,
                    row.model_version,
                    row.arm,
                    _int(row.n),
                    _float(row.total),
                    _float(row.total_sq),
                )
                for row in rows["templates"]
            ],
            buckets=[
                BucketGroup(
                    _datetime(row.start),
                    row.experiment,
                    row.model_version,
                    row.arm,
                    _int(row.n),
                    _float(row.total),
                    _float(row.total_sq),
                )
                for row in rows["buckets"]
            ],
            prediction_days=[
                PredictionDay(_date(row.day), row.experiment, row.arm, _int(row.n)) for row in rows["prediction_days"]
            ],
            latency=self._latency(rows["latency"]),
            cases=rows["cases"],
            case_count=rows["case_count"][0],
        )

    def _latency(self, rows: list[Any]) -> list[LatencyGroup]:
        if self.engine.dialect.name == "sqlite":
            return list(rows)
        groups = []
        for row in rows:
            p50, p90, p99 = (_float(value) for value in row.percentiles)  # one array: PERCENTILES in order
            groups.append(LatencyGroup(row.model_version, _int(row.n), p50, p90, p99, _float(row.max)))
        return groups

    def online_groups(
        self, window: Window, plan: Plan, starts: dict[str, datetime], pre_period_days: float
    ) -> OnlineGroups:
        """CUPED covariate sums per arm and phase, and case handle times per arm (abkit.report.online_queries)."""
        return online_groups(self._rows, window, plan, starts, pre_period_days)

    def power_groups(
        self, window: Window, plan: Plan, starts: dict[str, datetime], pre_period_days: float
    ) -> list[PowerGroup]:
        """Recent interaction-level and covariate sums per arm, for power (abkit.report.power_queries)."""
        return power_groups(self._rows, window, plan, starts, pre_period_days)

    def experiment_phases(self) -> list[Phase]:
        """Recorded phases; an experiment registered before phases were kept is one phase from the start."""
        with self.engine.connect() as conn:
            inspector = inspect(conn)
            # exported files are views (FilesSource), database tables are tables
            names = set(inspector.get_table_names()) | set(inspector.get_view_names())
        phases: list[Phase] = []
        if experiment_phases.name in names:
            t = experiment_phases.c
            for row in self._rows(select(t.experiment, t.phase, t.salt, t.arms_json, t.started_at)):
                phases.append(
                    Phase(row.experiment, _int(row.phase), row.salt, _arms(row.arms_json), _datetime(row.started_at))
                )
        recorded = {phase.experiment for phase in phases}
        if experiments.name in names:
            e = experiments.c
            for row in self._rows(select(e.name, e.salt, e.arms_json)):
                if row.name not in recorded:
                    phases.append(Phase(row.name, 1, row.salt, _arms(row.arms_json), None))
        return sorted(phases, key=lambda phase: (phase.experiment, phase.phase))

    def releases(self) -> dict[str, datetime]:
        rows = self._rows(
            select(model_versions.c.model_version, model_versions.c.released_at).where(
                model_versions.c.released_at.is_not(None)
            )
        )
        return {version: _datetime(released) for version, released in rows}
