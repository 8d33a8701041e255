"""Grouped sufficient statistics pushed down to a SQL database (SQLite, DuckDB, PostgreSQL, Trino, Spark).

Each statement is SQLAlchemy Core that the database answers with a few rows per group; Python
never sees an event row. On PostgreSQL, DuckDB and Spark a report reads the selections once
(:class:`~abkit.report.one_scan.OneScan`); SQLite (no GROUPING SETS, no var_pop) and Trino (no
temporary tables) run one query per figure family, side by side on pooled connections. Dialect
differences (week and day bucketing, percentiles) live in :mod:`abkit.report.dialects`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import CompoundSelect, Connection, Engine, Select, inspect, select, union
from sqlalchemy.exc import DBAPIError

from abkit.events.engine import connect
from abkit.events.schema import experiment_phases, experiments, model_versions, predictions, selections
from abkit.report import rows as read
from abkit.report import sqlite_percentiles
from abkit.report.groups import ArmBounds, CaseGroup, Groups, Phase, Plan, Window
from abkit.report.one_scan import ONE_SCAN_DIALECTS, OneScan, prediction_queries
from abkit.report.online import OnlineGroups
from abkit.report.online_queries import online_groups
from abkit.report.power_queries import PowerGroup, power_groups
from abkit.report.queries import (
    ARMS_FAMILY,
    CASE_COUNT_FAMILY,
    CASES_FAMILY,
    bounds_query,
    bucket_groups_query,
    hit_groups_query,
    interaction_families_query,
    latency_query,
    prediction_days_query,
    template_groups_query,
)
from abkit.report.rows import as_datetime, as_float, as_int

# Concurrent family queries: more than the engine's default pool (5) would queue anyway.
DEFAULT_WORKERS = max(1, min(4, os.cpu_count() or 1))

# PostgreSQL's "read_only_sql_transaction": no temporary table here, so no one scan either.
READ_ONLY_SQLSTATE = "25006"

# Memory PostgreSQL may use per sort or hash in the report's queries.
POSTGRES_WORK_MEM = "256MB"


def postgres_report_settings(conn: Connection) -> None:
    """The planner settings a report's transaction runs under on PostgreSQL (SET LOCAL: this
    transaction only, so pooled connections stay as they were).

    * ``work_mem``: the per-interaction hash aggregates outgrow the 4 MB default and spill to disk.
    * ``enable_sort = off``: PostgreSQL estimates the groups of an expression of a timestamp (a
      day, an hour, a phase) as that timestamp's distinct values, about one per row, and so
      sorts millions of interaction rows to build a few hundred grain groups where a hash table
      would do (hashed, the grain groups take 0.36x the time at 10M selections:
      ``bench/bench_report_forms.py --forms sort``). A sort the plan cannot do without (a
      percentile) still runs, and a hash aggregate that truly outgrows work_mem spills to disk.
    """
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
    conn.exec_driver_sql("SET LOCAL enable_sort = off")


def _split_families(rows: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Arms rows, :class:`CaseGroup` list and case count from the merged interaction families."""
    families = rows.pop("interactions")
    return {
        **rows,
        "arms": [row for row in families if row.family == ARMS_FAMILY],
        "cases": [
            CaseGroup(row.experiment, row.model_version, as_int(row.k), as_int(row.n), as_float(row.total))
            for row in families
            if row.family == CASES_FAMILY
        ],
        "case_count": [as_int(row.k) for row in families if row.family == CASE_COUNT_FAMILY],
    }


class SqlSource:
    """:class:`~abkit.report.groups.StatsSource` over an event-store database.

    Args:
        engine_or_url: an engine, a database URL (``sqlite:///``, ``duckdb:///``,
            ``postgresql://``, ``trino://``...) or a SQLite file path.
        workers: how many family queries run at once where each family is its own query
            (default: CPU count, at most 4; 1 runs them one after another).
    """

    def __init__(self, engine_or_url: Engine | str, *, workers: int | None = None):
        self._owns_engine = not isinstance(engine_or_url, Engine)
        self.engine = engine_or_url if isinstance(engine_or_url, Engine) else connect(engine_or_url)
        database = self.engine.url.database or ""
        in_memory = self.engine.dialect.name in ("sqlite", "duckdb") and database in ("", ":memory:")
        # One connection per query; an in-memory database lives in a single connection.
        self.workers = 1 if in_memory else (workers if workers is not None else DEFAULT_WORKERS)
        self._temporary_tables_refused = False

    def close(self) -> None:
        """Dispose of the engine when this source opened it from a URL (a given engine stays open)."""
        if self._owns_engine:
            self.engine.dispose()

    @property
    def one_scan(self) -> bool:
        """Whether a report here reads the selections once (:class:`~abkit.report.one_scan.OneScan`)."""
        return self.engine.dialect.name in ONE_SCAN_DIALECTS and not self._temporary_tables_refused

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                postgres_report_settings(conn)
            yield conn

    def _rows(self, query: Select | CompoundSelect) -> list[Any]:
        with self._connection() as conn:
            return list(conn.execute(query).all())

    @contextmanager
    def scan(self, window: Window) -> Iterator[OneScan | SqlSource]:
        """What answers a report's questions about ``window``: one materialised scan where the
        engine has one, else this source (one query per family).

        A PostgreSQL session that may not create a temporary table (a read-only transaction, a hot
        standby) gets this source too.
        """
        if not self.one_scan:
            yield self
            return
        statements = prediction_queries(window)
        with ExitStack() as stack:
            if self.workers > 1:
                # The prediction families start now, on their own connections, while the scan runs.
                pool = stack.enter_context(ThreadPoolExecutor(max_workers=min(self.workers, len(statements))))
                futures = {name: pool.submit(self._rows, statement) for name, statement in statements.items()}
                deferred = {name: future.result for name, future in futures.items()}
            else:
                deferred = {name: partial(self._rows, statement) for name, statement in statements.items()}
            try:
                conn = stack.enter_context(self._connection())
                scanned: OneScan | SqlSource = stack.enter_context(OneScan(conn, window, deferred))
            except DBAPIError as error:
                if getattr(error.orig, "sqlstate", None) != READ_ONLY_SQLSTATE:
                    raise
                self._temporary_tables_refused = True
                scanned = self
            yield scanned

    def bounds(self, window: Window) -> list[ArmBounds]:
        if self.one_scan:
            with self.scan(window) as scanned:
                return scanned.bounds(window)
        return read.arm_bounds(self._rows(bounds_query(window)))

    def queries(self, window: Window, plan: Plan) -> dict[str, Select | CompoundSelect]:
        """The per-family statements of engines without the one scan, by name (SQLite latency aside).

        ``interactions`` answers three families (arms, cases, case count) from one reduction; see
        :func:`~abkit.report.queries.interaction_families_query`.
        """
        statements: dict[str, Select | CompoundSelect] = {
            "hits": hit_groups_query(window),
            "templates": template_groups_query(window, plan),
            "buckets": bucket_groups_query(window, plan),
            "prediction_days": prediction_days_query(window),
            "interactions": interaction_families_query(window, plan),
        }
        if self.engine.dialect.name != "sqlite":  # SQLite has no percentile aggregate: two passes
            statements["latency"] = latency_query(window)
        return statements

    def _run_all(self, window: Window, plan: Plan) -> dict[str, list[Any]]:
        """Run every family's query at once, each on its own pooled connection.

        The database works on the queries side by side (SQLite readers and Trino workers run
        concurrently), so the report's wall time approaches that of its longest query rather than
        their sum.
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
        if self.one_scan:
            with self.scan(window) as scanned:
                return scanned.groups(window, plan)
        rows = _split_families(self._run_all(window, plan))
        latency = rows["latency"] if self.engine.dialect.name == "sqlite" else read.latency_groups(rows["latency"])
        return Groups(
            arms=read.arm_groups(rows["arms"]),
            hits=read.hit_groups(rows["hits"]),
            templates=read.template_groups(rows["templates"]),
            buckets=read.bucket_groups(rows["buckets"]),
            prediction_days=read.prediction_days(rows["prediction_days"]),
            latency=latency,
            cases=rows["cases"],
            case_count=rows["case_count"][0],
        )

    def online_groups(
        self, window: Window, plan: Plan, starts: dict[str, datetime], pre_period_days: float
    ) -> OnlineGroups:
        """CUPED covariate sums per arm and phase, and case handle times per arm (abkit.report.online_queries)."""
        if self.one_scan:
            with self.scan(window) as scanned:
                return scanned.online_groups(window, plan, starts, pre_period_days)
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
                    Phase(
                        row.experiment,
                        as_int(row.phase),
                        row.salt,
                        read.as_arms(row.arms_json),
                        as_datetime(row.started_at),
                    )
                )
        recorded = {phase.experiment for phase in phases}
        if experiments.name in names:
            e = experiments.c
            for row in self._rows(select(e.name, e.salt, e.arms_json)):
                if row.name not in recorded:
                    phases.append(Phase(row.name, 1, row.salt, read.as_arms(row.arms_json), None))
        return sorted(phases, key=lambda phase: (phase.experiment, phase.phase))

    def event_experiments(self) -> set[str]:
        """Every experiment named by a selection or a prediction, at any time."""
        named = union(select(selections.c.experiment), select(predictions.c.experiment))
        return {row[0] for row in self._rows(named)}

    def releases(self) -> dict[str, datetime]:
        rows = self._rows(
            select(model_versions.c.model_version, model_versions.c.released_at).where(
                model_versions.c.released_at.is_not(None)
            )
        )
        return {version: as_datetime(released) for version, released in rows}
