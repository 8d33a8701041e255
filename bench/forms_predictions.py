"""The forms of bench_report_forms.py that read the predictions: hits, predictions, predictions_once.

Each times a baseline and its candidates alternately on one connection (best of --rounds),
checks that their rows agree and prints candidate / baseline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Date,
    Double,
    Select,
    and_,
    case,
    cast,
    create_engine,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from abkit.events import columns as c
from abkit.events.schema import predictions, selections
from abkit.report import sql_source
from abkit.report.dialects import day_of, no_percentiles, percentiles
from abkit.report.groups import PERCENTILES, Window
from abkit.report.one_scan import prediction_families_query
from abkit.report.queries import _hits, hit_groups_query, window_filter


def time_alternating(
    url: str, forms: dict[str, Any], rounds: int, as_rows: Callable[[Sequence[Any]], list[Any]]
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """Each form's best time over ``rounds`` alternating runs on one connection, and its rows.

    A form is a statement or a list of statements (timed together, their rows concatenated).
    """
    best = dict.fromkeys(forms, float("inf"))
    answers: dict[str, list[Any]] = {}
    engine = create_engine(url)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            sql_source.postgres_report_settings(conn)
        for _ in range(rounds):
            for form, query in forms.items():
                statements = query if isinstance(query, list) else [query]
                started = time.perf_counter()
                answers[form] = as_rows([row for statement in statements for row in conn.execute(statement).all()])
                best[form] = min(best[form], time.perf_counter() - started)
    engine.dispose()
    return best, answers


def hits_over_every_prediction() -> Select:
    """The hits as they were: holdout selections joined to all predictions (no filter on the predictions' arm)."""
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
        .where(s.arm == c.HOLDOUT_ARM)
        .group_by(s.experiment, s.model_version, s.template_id)
    )


def bench_hits(name: str, url: str, rounds: int) -> None:
    forms = {"every prediction": hits_over_every_prediction(), "holdout's predictions": hit_groups_query(Window())}
    best, answers = time_alternating(url, forms, rounds, lambda rows: sorted(tuple(row) for row in rows))
    same = "same rows" if len(set(map(tuple, answers.values()))) == 1 else "ROWS DIFFER"
    base, candidate = best.values()
    print(
        f"hits on {name}: every prediction {base:.3f} s, holdout's {candidate:.3f} s, ratio {candidate / base:.2f} ({same})"
    )


def families_with_null_aggregates() -> CompoundSelect:
    """The prediction families as they were: the day branch fills its percentile and max columns
    with aggregates of a NULL, so it holds an ordered-set aggregate."""
    p = predictions.c
    day = day_of(p.created_at)
    no_text, no_number = literal_column("NULL"), cast(null(), Double())
    return union_all(
        select(
            literal_column("0"),
            day,
            p.experiment,
            p.arm,
            no_text,
            func.count(),
            percentiles(no_number, PERCENTILES),
            func.max(no_number),
        ).group_by(day, p.experiment, p.arm),
        select(
            literal_column("1"),
            cast(null(), Date()),
            no_text,
            no_text,
            p.model_version,
            func.count(),
            percentiles(p.latency_ms, PERCENTILES),
            func.max(p.latency_ms),
        ).group_by(p.model_version),
    )


def _as_text(rows: Sequence[Any]) -> list[str]:
    # repr: the rows hold lists (the percentiles), which a set cannot hash
    return sorted(repr(tuple(row)) for row in rows)


def bench_predictions(name: str, url: str, rounds: int) -> None:
    forms = {"aggregates of NULL": families_with_null_aggregates(), "plain NULLs": prediction_families_query(Window())}
    best, answers = time_alternating(url, forms, rounds, _as_text)
    same = "same rows" if len({tuple(rows) for rows in answers.values()}) == 1 else "ROWS DIFFER"
    base, candidate = best.values()
    print(
        f"prediction families on {name}: aggregates of NULL {base:.3f} s, plain NULLs {candidate:.3f} s, "
        f"ratio {candidate / base:.2f} ({same})"
    )


# -- predictions_once: the hits and the prediction families from one read of the predictions ----

DAYS, LATENCY, HITS = 0, 1, 2


def predictions_once_query(window: Window, materialized: str | None = "MATERIALIZED") -> CompoundSelect:
    """The hits and the prediction families from one CTE over the predictions, as one UNION ALL.

    The CTE holds the window's predictions and every holdout prediction (a holdout selection in the
    window may answer a prediction logged just before it); ``in_window`` tells the families theirs.
    Only the holdout's rows carry their id and ranked templates (the hits join them), so the 98% of
    treatment rows stay narrow where the CTE is written. The join to the selections stays in the
    hits branch: a prediction with several selections is still one row for the counts and latency.
    ``materialized``: the CTE's prefix (``MATERIALIZED``, ``NOT MATERIALIZED`` or None).
    """
    p = predictions.c
    terms = window_filter(predictions, window)
    in_window: ColumnElement[Any] = and_(*terms) if terms else true()
    holdout = p.arm == c.HOLDOUT_ARM
    held: list[ColumnElement[Any]] = [
        case((holdout, p[column]), else_=null()).label(column) for column in (c.PREDICTION_ID, *c.TEMPLATE_ID_COLUMNS)
    ]
    cte = select(
        p.experiment,
        p.arm,
        p.model_version,
        p.latency_ms,
        day_of(p.created_at).label("day"),
        in_window.label("in_window"),
        *held,
    )
    if terms:
        cte = cte.where(or_(in_window, holdout))
    w = cte.cte("report_predictions")
    if materialized:
        w = w.prefix_with(materialized)
    s = selections.c
    no_text: ColumnElement[Any] = literal_column("NULL")
    no_number, no_count = cast(null(), Double()), cast(null(), BigInteger())

    def hits(ranks: list[int]) -> ColumnElement[Any]:
        matched = or_(*(s.template_id == w.c[f"template_id_{rank}"] for rank in ranks))
        return func.sum(case((matched, 1), else_=0))

    return union_all(
        select(
            literal_column(str(DAYS)).label("family"),
            w.c.day,
            w.c.experiment,
            w.c.arm,
            no_text.label("model_version"),
            no_text.label("template_id"),
            func.count().label("n"),
            no_count.label("top1"),
            no_count.label("top3"),
            no_count.label("top5"),
            no_percentiles().label("percentiles"),
            no_number.label("max"),
        )
        .where(w.c.in_window)
        .group_by(w.c.day, w.c.experiment, w.c.arm),
        select(
            literal_column(str(LATENCY)),
            cast(null(), Date()),
            no_text,
            no_text,
            w.c.model_version,
            no_text,
            func.count(),
            no_count,
            no_count,
            no_count,
            percentiles(w.c.latency_ms, PERCENTILES),
            func.max(w.c.latency_ms),
        )
        .where(w.c.in_window)
        .group_by(w.c.model_version),
        select(
            literal_column(str(HITS)),
            cast(null(), Date()),
            s.experiment,
            no_text,
            s.model_version,
            s.template_id,
            func.count(),
            hits([1]),
            hits([1, 2, 3]),
            hits([1, 2, 3, 4, 5]),
            no_percentiles(),
            no_number,
        )
        .select_from(selections.join(w, w.c.prediction_id == s.prediction_id))
        .where(s.arm == c.HOLDOUT_ARM, w.c.arm == c.HOLDOUT_ARM, *window_filter(selections, window))
        .group_by(s.experiment, s.model_version, s.template_id),
    )


def grouping_sets_query(window: Window) -> Select:
    """The hits and the prediction families from one pass over the predictions: each joined (left,
    holdout to holdout) to the holdout's selections in the window, grouped by three grouping sets.

    A prediction with several selections joins to several rows: the families count and measure
    only the first (``row_number`` over the holdout's few selections), the hits every one. Every
    aggregate runs for every set, so the percentiles sort the predictions once per set.
    """
    p, s = predictions.c, selections.c
    held = (
        select(
            s.prediction_id,
            s.experiment,
            s.model_version,
            s.template_id,
            (func.row_number().over(partition_by=s.prediction_id) == 1).label("first"),
        )
        .where(s.arm == c.HOLDOUT_ARM, *window_filter(selections, window))
        .subquery("held")
    )
    terms = window_filter(predictions, window)
    in_window: ColumnElement[Any] = and_(*terms) if terms else true()
    ranked = [p[f"template_id_{rank}"] for rank in range(1, 6)]
    joined = select(
        p.experiment,
        p.arm,
        p.model_version,
        p.latency_ms,
        day_of(p.created_at).label("day"),
        and_(in_window, func.coalesce(held.c.first, true())).label("counted"),
        held.c.experiment.label("s_experiment"),
        held.c.model_version.label("s_version"),
        held.c.template_id,
        *(case((held.c.template_id.in_(ranked[:k]), 1), else_=0).label(f"top{k}") for k in (1, 3, 5)),
    ).select_from(predictions.outerjoin(held, and_(held.c.prediction_id == p.prediction_id, p.arm == c.HOLDOUT_ARM)))
    if terms:
        joined = joined.where(or_(in_window, p.arm == c.HOLDOUT_ARM))
    j = joined.subquery("joined").c
    counted_latency = case((j.counted, j.latency_ms), else_=null())
    return select(
        func.grouping(j.day).label("by_day"),
        func.grouping(j.model_version).label("by_version"),
        j.day,
        j.experiment,
        j.arm,
        j.model_version,
        j.s_experiment,
        j.s_version,
        j.template_id,
        func.count(case((j.counted, 1), else_=null())).label("n"),
        func.count(j.template_id).label("selections"),
        func.sum(j.top1).label("top1"),
        func.sum(j.top3).label("top3"),
        func.sum(j.top5).label("top5"),
        percentiles(counted_latency, PERCENTILES).label("percentiles"),
        func.max(counted_latency).label("max"),
    ).group_by(
        func.grouping_sets(
            tuple_(j.day, j.experiment, j.arm),
            tuple_(j.model_version),
            tuple_(j.s_experiment, j.s_version, j.template_id),
        )
    )


def _grouping_set_rows(rows: Sequence[Any]) -> list[tuple]:
    """Rows of :func:`grouping_sets_query` as :func:`_families` gives the others': without the hits'
    group of predictions that no selection answers, nor the families' groups of holdout predictions
    outside the window only (n = 0)."""
    out = []
    for row in rows:
        if row.by_day + row.by_version < 2 and row.n == 0:
            continue
        if row.by_day == 0:
            out.append((DAYS, row.day, row.experiment, row.arm, None, None, row.n, None, None, None))
        elif row.by_version == 0:
            out.append((LATENCY, None, None, None, row.model_version, None, row.n, *row.percentiles, row.max))
        elif row.template_id is not None:
            out.append((HITS, None, row.s_experiment, None, row.s_version, row.template_id, row.selections))
            out[-1] += (row.top1, row.top3, row.top5)
    return sorted(out, key=repr)


def _families(rows: Sequence[Any]) -> list[tuple]:
    """Rows of either form as (family, key..., figures...), the hits' as the once form tags them."""
    out = []
    for row in rows:
        fields = row._mapping
        if "family" not in fields:  # a hit_groups_query row
            out.append((HITS, None, row.experiment, None, row.model_version, row.template_id, row.n, *row[4:]))
        elif "template_id" not in fields:  # a prediction_families_query row
            figures = (row.n, None, None, None) if row.family == DAYS else (row.n, *row.percentiles, row.max)
            out.append((row.family, row.day, row.experiment, row.arm, row.model_version, None, *figures))
        else:
            figures = (
                (row.n, row.top1, row.top3, row.top5)
                if row.family == HITS
                else (row.n, None, None, None)
                if row.family == DAYS
                else (row.n, *row.percentiles, row.max)
            )
            out.append((row.family, row.day, row.experiment, row.arm, row.model_version, row.template_id, *figures))
    return sorted(out, key=repr)


def _as_families(rows: Sequence[Any]) -> list[tuple]:
    return _grouping_set_rows(rows) if rows and "by_day" in rows[0]._mapping else _families(rows)


def _same(rows: list[tuple], others: list[tuple]) -> bool:
    return len(rows) == len(others) and all(
        math.isclose(x, y, rel_tol=1e-12) if isinstance(x, float) and isinstance(y, float) else x == y
        for a, b in zip(rows, others, strict=True)
        for x, y in zip(a, b, strict=True)
    )


def bench_predictions_once(name: str, url: str, rounds: int, window: Window | None = None) -> None:
    """The hits and the prediction families: two statements (baseline, as the report runs them one
    after the other) against one statement over a materialised CTE, over an inlined one and (DuckDB
    only) one pass with grouping sets."""
    window = window or Window()
    forms: dict[str, Any] = {
        "two statements": [hit_groups_query(window), prediction_families_query(window)],
        "one, MATERIALIZED CTE": predictions_once_query(window, "MATERIALIZED"),
        "one, NOT MATERIALIZED CTE": predictions_once_query(window, "NOT MATERIALIZED"),
    }
    if name != "PostgreSQL":
        # PostgreSQL sorts every grouping set (an ordered-set aggregate cannot be hashed) and, with
        # enable_sort off, joins by a nested loop to keep the version index's order: over 15 min at 3M.
        forms["one pass, grouping sets"] = grouping_sets_query(window)
    best, answers = time_alternating(url, forms, rounds, _as_families)
    base = best["two statements"]
    baseline_rows = answers["two statements"]
    for form, seconds in best.items():
        same = "same rows" if _same(answers[form], baseline_rows) else "ROWS DIFFER"
        print(f"predictions once on {name}: {form:<26}{seconds:8.3f} s  ratio {seconds / base:.2f} ({same})")
