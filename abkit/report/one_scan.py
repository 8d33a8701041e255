"""A report's statistics from one scan of the selections, materialised once on one connection.

:class:`OneScan` runs :func:`~abkit.report.scan_queries.selection_groups_query` into a temporary
table (PostgreSQL, DuckDB) or a cached temporary view (Spark), then answers the bounds, every
figure family and the online figures with small queries over it. The prediction families (holdout
hits, daily counts, latency: :func:`prediction_queries`) do not depend on that table; the source
runs them beside the scan, on other connections, and hands them over as deferred results. The
daily counts and the latency come from one statement (:func:`prediction_families_query`): the
predictions are read once for both. The table goes when the scan closes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Connection,
    Date,
    Double,
    Select,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from abkit.events.columns import HOLDOUT_ARM
from abkit.events.schema import predictions
from abkit.report import rows
from abkit.report.case_queries import arm_cases_query, case_count_from, window_cases_query, window_cases_table
from abkit.report.dialects import day_of, no_percentiles, percentiles
from abkit.report.groups import PERCENTILES, ArmBounds, ArmGroup, CaseGroup, Groups, Plan, Window
from abkit.report.online import OnlineGroups, covariate_groups
from abkit.report.online_queries import _pre_period, grain_groups, grain_groups_query, handle_time_groups
from abkit.report.online_sequence import GrainGroup
from abkit.report.power_queries import (
    PowerGroup,
    power_from_grains,
    power_group_rows,
    power_groups,
    power_groups_query,
)
from abkit.report.queries import (
    _arm_sums,
    _phased,
    hit_groups_query,
    window_filter,
)
from abkit.report.scan_queries import (
    DropMaterialized,
    MaterializeAs,
    bounds_from,
    bucket_groups_from,
    covariate_table,
    interaction_keys_from,
    interactions_from,
    recent_interactions_from,
    reduced_table,
    selection_groups_query,
    straddle_end_query,
    template_groups_from,
)

# Dialects with temporary tables (or cached views), GROUPING SETS and a stable var_pop.
ONE_SCAN_DIALECTS = frozenset({"postgresql", "duckdb", "spark"})

Deferred = Callable[[], list[Any]]


# Tags of the two families in the ``family`` column of :func:`prediction_families_query`.
DAYS, LATENCY = 0, 1


def prediction_families_query(window: Window) -> CompoundSelect:
    """Prediction counts per (UTC day, experiment, arm) and latency per model version, in one statement.

    A ``UNION ALL`` of two hashed ``GROUP BY`` told apart by ``family`` (:data:`DAYS`, :data:`LATENCY`);
    the columns a family does not use are NULL. The latency rows are those of
    :func:`~abkit.report.queries.latency_query` (n, exact percentiles as one array, max); the day
    rows those of :func:`~abkit.report.queries.prediction_days_query`. Not ``GROUPING SETS``: every
    aggregate runs for every set there, and the percentiles would sort the predictions again per day.
    """
    p = predictions.c
    where = window_filter(predictions, window)
    day = day_of(p.created_at)
    # untyped NULL for text (Spark has no bare VARCHAR); the percentiles and max need a typed one.
    # Plain NULLs, not aggregates of NULL: PostgreSQL cannot hash a percentile aggregate and
    # would sort every prediction to count them per day.
    no_text: ColumnElement[Any] = literal_column("NULL")
    return union_all(
        select(
            literal_column(str(DAYS)).label("family"),
            day.label("day"),
            p.experiment,
            p.arm,
            no_text.label("model_version"),
            func.count().label("n"),
            no_percentiles().label("percentiles"),
            cast(null(), Double()).label("max"),
        )
        .where(*where)
        .group_by(day, p.experiment, p.arm),
        select(
            literal_column(str(LATENCY)),
            cast(null(), Date()),
            no_text,
            no_text,
            p.model_version,
            func.count(),
            percentiles(p.latency_ms, PERCENTILES),
            func.max(p.latency_ms),
        )
        .where(*where)
        .group_by(p.model_version),
    )


def prediction_queries(window: Window) -> dict[str, Select | CompoundSelect]:
    """The statements that read predictions, by name: the hits (the holdout's selections joined to
    their predictions) and :func:`prediction_families_query`."""
    return {"hits": hit_groups_query(window), "predictions": prediction_families_query(window)}


class OneScan:
    """The report's grouped statistics over one window, from one materialised scan of the selections.

    Answers the :class:`~abkit.report.groups.StatsSource` questions for the window it was made for.
    Use as a context manager, or call :meth:`close`, to drop the table.
    """

    def __init__(self, conn: Connection, window: Window, predictions: Mapping[str, Deferred]):
        self._conn = conn
        self.window = window
        self._predictions = predictions
        self._prediction_rows: list[Any] | None = None
        self.name = f"abkit_scan_{uuid.uuid4().hex[:16]}"
        self._tables: list[str] = []
        self._materialize(self.name, selection_groups_query(window, grouping_sets=conn.dialect.name != "postgresql"))
        self._reduced = reduced_table(self.name).c
        self._covariates: dict[tuple[tuple[tuple[str, datetime], ...], float], Any] = {}
        self._window_cases: Any = None
        self._arm_case_rows: dict[Plan, list[Any]] = {}
        self._bounds: list[ArmBounds] | None = None
        self._online: dict[tuple[Plan, tuple[tuple[str, datetime], ...], float], OnlineGroups] = {}

    def __enter__(self) -> OneScan:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for name in reversed(self._tables):
            self._conn.execute(DropMaterialized(name))
        self._tables.clear()

    def _materialize(self, name: str, query: Select | CompoundSelect) -> None:
        self._conn.execute(MaterializeAs(name, query))
        self._tables.append(name)
        if self._conn.dialect.name == "postgresql":
            # a temporary table has no statistics until analysed (autovacuum does not see it): the
            # planner would guess its size and pick nested loops for the joins to cases and the covariate
            self._conn.exec_driver_sql(f"ANALYZE {self._conn.dialect.identifier_preparer.quote(name)}")

    def _covariate(self, starts: Mapping[str, datetime], pre_period_days: float) -> Any:
        """Each advocate's CUPED covariate per experiment, materialised once for the grain and power
        groups (None without starts: no covariate)."""
        if not starts:
            return None
        key = (tuple(sorted(starts.items())), pre_period_days)
        if key not in self._covariates:
            name = f"{self.name}_covariate"
            if self._covariates:
                name += str(len(self._covariates))
            covariate = _pre_period(starts, timedelta(days=pre_period_days))
            self._materialize(name, select(covariate.c.experiment, covariate.c.advocate_id, covariate.c.x))
            self._covariates[key] = covariate_table(name)
        return self._covariates[key]

    def _rows(self, query: Select) -> list[Any]:
        return list(self._conn.execute(query).all())

    def _check(self, window: Window) -> None:
        if window != self.window:
            raise ValueError(f"window: this scan covers {self.window}, asked for {window}")

    def bounds(self, window: Window) -> list[ArmBounds]:
        self._check(window)
        if self._bounds is None:
            self._bounds = rows.arm_bounds(self._rows(bounds_from(self._reduced)))
        return self._bounds

    def _cases(self) -> Any:
        """The window's cases (:func:`~abkit.report.case_queries.window_cases_query`), materialised on
        first use: the only read of ``cases``, for the case count, the case groups and the guardrail."""
        if self._window_cases is None:
            name = f"{self.name}_cases"
            self._materialize(name, window_cases_query(interaction_keys_from(self._reduced)))
            self._window_cases = window_cases_table(name)
        return self._window_cases

    def _case_count(self) -> int:
        """Cases with a selection in the window: the window's cases, counted."""
        return rows.as_int(self._conn.execute(case_count_from(self._cases())).scalar())

    def _arm_cases(self, plan: Plan) -> list[Any]:
        """:func:`~abkit.report.case_queries.arm_cases_query` rows, read once per plan (cases and guardrail)."""
        if plan not in self._arm_case_rows:
            statement = arm_cases_query(interaction_keys_from(self._reduced), plan, self._cases())
            self._arm_case_rows[plan] = self._rows(statement)
        return self._arm_case_rows[plan]

    def groups(self, window: Window, plan: Plan) -> Groups:
        self._check(window)
        interactions = interactions_from(self._reduced, plan)
        grains = next((online.grains for (seen, *_), online in self._online.items() if seen == plan), None)
        return Groups(
            arms=(
                rows.arm_groups(self._rows(_arm_sums(_phased(interactions, plan))))
                if grains is None
                else arms_from_grains(grains)
            ),
            hits=rows.hit_groups(self._predictions["hits"]()),
            templates=rows.template_groups(self._rows(template_groups_from(self._reduced, plan))),
            buckets=rows.bucket_groups(self._rows(bucket_groups_from(self._reduced, plan))),
            prediction_days=rows.prediction_days(r for r in self._prediction_families() if r.family == DAYS),
            latency=rows.latency_groups(r for r in self._prediction_families() if r.family == LATENCY),
            cases=_case_groups(self._arm_cases(plan)),
            case_count=self._case_count(),
        )

    def _prediction_families(self) -> list[Any]:
        """The rows of :func:`prediction_families_query`, read once."""
        if self._prediction_rows is None:
            self._prediction_rows = list(self._predictions["predictions"]())
        return self._prediction_rows

    def online_groups(
        self, window: Window, plan: Plan, starts: dict[str, datetime], pre_period_days: float
    ) -> OnlineGroups:
        """Interaction and CUPED covariate sums per arm, phase and grain (over this scan's interactions),
        and case handle times per arm and phase."""
        self._check(window)
        key = (plan, tuple(sorted(starts.items())), pre_period_days)
        if key not in self._online:
            interactions = interactions_from(self._reduced, plan)
            covariate = self._covariate(starts, pre_period_days)
            pre_period = timedelta(days=pre_period_days)
            statement = grain_groups_query(window, plan, starts, pre_period, interactions, covariate)
            grains = grain_groups(self._rows(statement))
            handle_times = handle_time_groups(self._arm_cases(plan))
            self._online[key] = OnlineGroups(covariate_groups(grains), handle_times, pre_period_days, grains)
        return self._online[key]

    def power_groups(
        self, window: Window, plan: Plan, starts: dict[str, datetime], pre_period_days: float
    ) -> list[PowerGroup]:
        """Interaction and covariate sums per arm over ``window`` (the recent traffic, for power).

        When ``window`` holds all of this scan's traffic (an experiment younger than the power
        period), they are the grain groups' sums. When it is a later part of it, the scan's
        interactions that began in it, and the selections in it of those that straddle its start
        (:func:`~abkit.report.scan_queries.recent_interactions_from`). Any other window: one query
        over its selections.
        """
        bounds = self.bounds(self.window)
        if window.experiment != self.window.experiment or window.until != self.window.until:
            return power_groups(self._rows, window, plan, starts, pre_period_days)
        if window.since is None or all(window.since <= b.first_seen for b in bounds):
            online = self.online_groups(self.window, plan, starts, pre_period_days)
            return power_from_grains(online.grains, bounds, plan)
        straddle_end = self._conn.execute(straddle_end_query(self._reduced, window.since)).scalar()
        recent = recent_interactions_from(self._reduced, plan, window, straddle_end)
        covariate = self._covariate(starts, pre_period_days)
        statement = power_groups_query(window, plan, starts, timedelta(days=pre_period_days), recent, covariate)
        return power_group_rows(self._rows(statement), plan)


def arms_from_grains(grains: Sequence[GrainGroup]) -> list[ArmGroup]:
    """The arm groups as the roll-up of the grain groups over their buckets (every interaction is in one)."""
    rolled: dict[tuple[str, int, str, str], list[Any]] = {}
    for g in grains:
        key = (g.experiment, g.phase, g.model_version, g.arm)
        assert g.first_seen is not None and g.last_seen is not None
        if key not in rolled:
            rolled[key] = [0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, g.first_seen, g.last_seen]
        sums = rolled[key]
        for index, value in enumerate((g.n, g.total, g.total_sq, g.k, g.sum_n2, g.sum_y2, g.sum_ny)):
            sums[index] += value
        sums[7], sums[8] = min(sums[7], g.first_seen), max(sums[8], g.last_seen)
    return [ArmGroup(*key, *sums) for key, sums in sorted(rolled.items())]


def _case_groups(arm_cases: list[Any]) -> list[CaseGroup]:
    """Per (experiment, model_version): the treatment arms' cases, selections and handle time."""
    totals: dict[tuple[str, str], tuple[int, int, float]] = {}  # phases summed
    for row in arm_cases:
        if row.arm == HOLDOUT_ARM:
            continue
        cases, selections, handle = totals.get((row.experiment, row.model_version), (0, 0, 0.0))
        totals[row.experiment, row.model_version] = (
            cases + rows.as_int(row.n),
            selections + rows.as_int(row.selections),
            handle + rows.as_float(row.handle_time_sum),
        )
    return [CaseGroup(experiment, version, *sums) for (experiment, version), sums in sorted(totals.items())]
