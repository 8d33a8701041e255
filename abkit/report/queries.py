"""The report's aggregate queries as SQLAlchemy Core statements (pure: they build, never run).

One statement per figure family; each returns a few rows per group. :class:`SqlSource` runs
them, :mod:`abkit.report.reference` renders them for analysts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CompoundSelect, Integer, Select, and_, case, cast, func, literal, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from abkit.events import columns as c
from abkit.events.schema import cases, predictions, selections
from abkit.report.dialects import day_of, hour_of, percentiles, week_start
from abkit.report.groups import PERCENTILES, Phase, Plan, Window

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


def _hits(template: ColumnElement, ranks: Iterable[int]) -> ColumnElement:
    """1 when the selected template is among the prediction's given ranks (NULL ranks never match)."""
    matched = or_(*(template == predictions.c[f"template_id_{rank}"] for rank in ranks))
    return func.sum(case((matched, 1), else_=0))


# -- queries (pure: they build statements, the source runs them) -----------------------------


def bounds_query(window: Window) -> Select:
    """Per (experiment, model_version, arm): selections, smallest selection time, first and last.

    A cheap first pass (a GROUP BY on three low-cardinality columns): the smallest time becomes
    the arm's shift in every later sum, and the span chooses the timeline's grain.
    """
    s = selections.c
    return (
        select(
            s.experiment,
            s.model_version,
            s.arm,
            func.count().label("n"),
            func.min(s.selection_time_s).label("low"),
            func.min(s.created_at).label("first_seen"),
            func.max(s.created_at).label("last_seen"),
        )
        .where(*window_filter(selections, window))
        .group_by(s.experiment, s.model_version, s.arm)
    )


def arm_shift(plan: Plan, experiment: ColumnElement, model_version: ColumnElement, arm: ColumnElement) -> ColumnElement:
    """The shift of each row's arm (from the plan), as one CASE over the arms."""
    if not plan.shifts:
        return literal(0.0)
    return case(
        *(
            (and_(experiment == name, model_version == version, arm == arm_name), literal(shift))
            for (name, version, arm_name), shift in plan.shifts
        ),
        else_=literal(0.0),
    )


def _deviation(plan: Plan) -> ColumnElement:
    s = selections.c
    return s.selection_time_s - arm_shift(plan, s.experiment, s.model_version, s.arm)


def _phase(experiment: ColumnElement, moment: ColumnElement, phases: Iterable[Phase]) -> ColumnElement:
    """The phase in force at ``moment`` for each experiment.

    An experiment's first recorded phase also covers anything earlier (a definition recorded
    after its first events, e.g. registered once traffic was flowing); 0 means unregistered.
    """
    first: dict[str, int] = {}
    for phase in phases:
        first[phase.experiment] = min(phase.phase, first.get(phase.experiment, phase.phase))
    whens = []
    for phase in sorted(phases, key=lambda p: (p.experiment, -p.phase)):
        condition = experiment == phase.experiment
        if phase.started_at is not None and phase.phase != first[phase.experiment]:
            condition = and_(condition, moment >= phase.started_at)
        whens.append((condition, literal(phase.phase)))
    return case(*whens, else_=literal(0)) if whens else literal(0)


def _interactions(window: Window, plan: Plan) -> Select:
    """Selections reduced to one row per interaction (advocate_id, case_id) of each arm.

    ``n_i``, ``y_i`` and ``q_i`` are the interaction's count and sums of x - shift and of its square.
    """
    s = selections.c
    deviation = _deviation(plan)
    return (
        select(
            s.experiment,
            s.model_version,
            s.arm,
            s.advocate_id,
            s.case_id,
            func.count().label("n_i"),
            func.sum(deviation).label("y_i"),
            func.sum(deviation * deviation).label("q_i"),
            func.min(s.created_at).label("first_seen"),
            func.max(s.created_at).label("last_seen"),
        )
        .where(*window_filter(selections, window))
        .group_by(s.experiment, s.model_version, s.arm, s.advocate_id, s.case_id)
    )


def _phased(interactions: Any, plan: Plan) -> Any:
    """Interaction rows with the phase in force at each interaction's first selection."""
    i = interactions
    return select(i, _phase(i.experiment, i.first_seen, plan.phases).label("phase")).subquery("phased").c


def _arm_sums(i: Any, *leading: ColumnElement) -> Select:
    """Per-interaction rows ``i`` (with phases) summed per (experiment, phase, model_version, arm)."""
    return select(
        *leading,
        i.experiment,
        i.phase,
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
    ).group_by(i.experiment, i.phase, i.model_version, i.arm)


def arm_groups_query(window: Window, plan: Plan) -> Select:
    """Per (experiment, phase, model_version, arm): selection sums and per-interaction cluster sums.

    The inner query reduces selections to one row per interaction (advocate_id, case_id) inside
    the database; the outer query assigns each interaction its phase and sums per arm and phase.
    """
    return _arm_sums(_phased(_interactions(window, plan).subquery("interactions").c, plan))


def hit_groups_query(window: Window) -> Select:
    """Holdout selections joined to the prediction they answer: top-1/3/5 hits per experiment, version, template.

    Both sides are the holdout's: a hit measures the model on choices made without its suggestions,
    so a holdout selection counts when its prediction was logged by the holdout too (the service
    assigns both by the same rule; they can differ only across a change of phase, where a shown
    suggestion would bias the hit). The join then hashes and probes the holdout's few percent of
    the predictions instead of all of them.
    """
    s = selections.c
    return (
        select(
            s.experiment,
            s.model_version,
            s.template_id,
            func.count().label("n"),
            _hits(s.template_id, [1]).label("top1"),
            _hits(s.template_id, [1, 2, 3]).label("top3"),
            _hits(s.template_id, [1, 2, 3, 4, 5]).label("top5"),
        )
        .select_from(selections.join(predictions, predictions.c.prediction_id == s.prediction_id))
        .where(s.arm == c.HOLDOUT_ARM, predictions.c.arm == c.HOLDOUT_ARM, *window_filter(selections, window))
        .group_by(s.experiment, s.model_version, s.template_id)
    )


def _shifted_sums(plan: Plan) -> list[ColumnElement]:
    deviation = _deviation(plan)
    return [
        func.count().label("n"),
        func.sum(deviation).label("total"),
        func.sum(deviation * deviation).label("total_sq"),
    ]


def template_groups_query(window: Window, plan: Plan) -> Select:
    """Per (template_id, experiment, model_version, arm): selection count and sums about the arm's shift."""
    s = selections.c
    return (
        select(s.template_id, s.experiment, s.model_version, s.arm, *_shifted_sums(plan))
        .where(*window_filter(selections, window))
        .group_by(s.template_id, s.experiment, s.model_version, s.arm)
    )


def bucket_groups_query(window: Window, plan: Plan) -> Select:
    """Per (hour or day, experiment, model_version, arm): selection count and sums about the arm's shift.

    The report rolls these rows up into daily event counts, ISO weeks and the timeline.
    """
    s = selections.c
    bucket = (hour_of if plan.grain == "hour" else day_of)(s.created_at)
    return (
        select(bucket.label("start"), s.experiment, s.model_version, s.arm, *_shifted_sums(plan))
        .where(*window_filter(selections, window))
        .group_by(bucket, s.experiment, s.model_version, s.arm)
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
    """Per (ISO week, arm kind): selection count and sums about one shift.

    For analysts (sql/reference_*.sql); the report derives weeks from :func:`bucket_groups_query`.
    """
    kind = arm_kind(selections.c.arm)
    week = week_start(selections.c.created_at)
    deviation = selections.c.selection_time_s - literal(shift)
    return (
        select(
            week.label("week_start"),
            kind.label("arm_kind"),
            func.count().label("n"),
            func.sum(deviation).label("total"),
            func.sum(deviation * deviation).label("total_sq"),
        )
        .where(*window_filter(selections, window))
        .group_by(week, kind)
    )


def latency_query(window: Window) -> Select:
    """Per model version: count, percentiles (one array-valued percentile aggregate: one sort) and max of latency_ms."""
    p = predictions.c
    return (
        select(
            p.model_version,
            func.count().label("n"),
            percentiles(p.latency_ms, PERCENTILES).label("percentiles"),
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


def _selection_cases(window: Window) -> Any:
    """Selections in the window as rows with the columns :func:`case_groups_of` reads (n_i = 1 each)."""
    s = selections.c
    return (
        select(s.experiment, s.model_version, s.arm, s.case_id, literal_column("1").label("n_i"))
        .where(*window_filter(selections, window))
        .subquery("window_selections")
        .c
    )


def case_groups_query(window: Window) -> Select:
    """Per (experiment, model version): cases with treatment selections, their selections and handle time."""
    return case_groups_of(_selection_cases(window))


def case_count_query(window: Window) -> Select:
    """Cases that have a selection in the window."""
    return case_count_of(_selection_cases(window))


# -- merged families: one scan of the selections for arms, cases and the case count ----------

# Tags of the rows of :func:`interaction_families_query`.
ARMS_FAMILY, CASES_FAMILY, CASE_COUNT_FAMILY = "arms", "cases", "case_count"


def case_groups_of(i: Any) -> Select:
    """:func:`case_groups_query` from per-interaction rows ``i`` (experiment, model_version, arm, case_id, n_i)."""
    per_case = (
        select(i.experiment, i.model_version, i.case_id, func.sum(i.n_i).label("selections"))
        .where(i.arm != c.HOLDOUT_ARM)
        .group_by(i.experiment, i.model_version, i.case_id)
        .subquery("per_case")
    )
    return (
        select(
            per_case.c.experiment,
            per_case.c.model_version,
            func.count().label("cases"),
            func.sum(per_case.c.selections).label("selections"),
            func.sum(cases.c.handle_time_s).label("handle_time_sum"),
        )
        .select_from(per_case.join(cases, cases.c.case_id == per_case.c.case_id))
        .group_by(per_case.c.experiment, per_case.c.model_version)
    )


def case_count_of(i: Any) -> Select:
    """:func:`case_count_query` from per-interaction rows ``i``."""
    return select(func.count()).select_from(cases).where(cases.c.case_id.in_(select(i.case_id)))


def interaction_families_query(window: Window, plan: Plan) -> CompoundSelect:
    """Arm groups, case groups and the case count from one per-interaction reduction of the selections.

    The selections are grouped once by interaction (experiment, model_version, arm, advocate_id,
    case_id) in a CTE that the three families re-aggregate; DuckDB and SQLite materialize a CTE
    referenced more than once, so the selections are read and hashed once instead of three times
    (SQLite runs this; the other engines use the one scan of abkit/report/scan_queries.py). The
    families come back as one UNION ALL, told apart by ``family``; columns a family does not use
    are NULL:

    * ``arms``: the columns of :func:`arm_groups_query`;
    * ``cases``: experiment, model_version, ``k`` = cases, ``n`` = selections, ``total`` =
      handle_time_sum (as :func:`case_groups_query`: a case's treatment selections);
    * ``case_count``: ``k`` = cases with a selection in the window (:func:`case_count_query`).
    """
    i = _interactions(window, plan).cte("interactions").c
    arms = _arm_sums(_phased(i, plan), literal_column(f"'{ARMS_FAMILY}'").label("family"))
    groups = case_groups_of(i).subquery("case_groups").c
    nothing: ColumnElement[Any] = literal_column("NULL")
    case_rows = select(
        literal_column(f"'{CASES_FAMILY}'"),
        groups.experiment,
        nothing,
        groups.model_version,
        nothing,
        groups.selections,
        groups.handle_time_sum,
        nothing,
        groups.cases,
        *([nothing] * 5),
    )
    count_row = select(
        literal_column(f"'{CASE_COUNT_FAMILY}'"), *([nothing] * 7), case_count_of(i).scalar_subquery(), *([nothing] * 5)
    )
    return arms.union_all(case_rows, count_row)
