"""Benchmark: forms of the report's statements, side by side on the same simulated events.

Writes N simulated selections (bench/report_events.py: one prediction each) into DuckDB and a
throwaway PostgreSQL, then times, alternating, best of --rounds:

  hits  the holdout's selections joined to every prediction (baseline) against the report's
        form, which joins them to the holdout's predictions only (DuckDB and PostgreSQL);
  predictions  the prediction counts per day and latency per version (one UNION ALL), the day
        branch's unused percentile and max columns as aggregates of a NULL (baseline) against
        plain NULLs (the report's form): PostgreSQL cannot hash an ordered-set aggregate, so the
        baseline sorts every prediction to count them per day (DuckDB and PostgreSQL);
  predictions_once  the hits and the prediction families as the report runs them, two statements
        one after the other (baseline), against one statement over a CTE of the window's and the
        holdout's predictions, MATERIALIZED (read once) and NOT MATERIALIZED (inlined: read by
        each branch), and one pass over the predictions left-joined to the holdout's selections
        with three grouping sets (forms_predictions.py; DuckDB and PostgreSQL, the grouping sets
        DuckDB only);
  sort  the grain groups over the one scan's rows on PostgreSQL with enable_sort on (baseline)
        and off (the report's setting): the planner estimates a grouping by a day or a phase of
        a timestamp at one group per row, and with sorting allowed it sorts every interaction;
  statistics  the scan (materialised) and the whole report on PostgreSQL without (baseline) and
        with the schema's statistics on the hour the scan groups by (ANALYZE before each);
  shift the grain groups over the one scan's materialised rows (CUPED and the sequence's
        sums per arm, phase and day), the arm's shift in y_i and q_i as a CASE over every arm
        (baseline) against a join to the plan's shifts (the report's form), DuckDB and PostgreSQL;
  scan  the report's per-interaction floor (not written; without the arms' shifts, as
        bench_report.py times it, and with them as a CASE over the arms, as the fallback
        statement runs) against the one scan and its parts,
        each written to a temporary table as the report does: the interaction grouping alone
        with a mean and var_pop or with sums and sums of squares, and the template and hour
        groupings (DuckDB: grouping sets; PostgreSQL: two GROUP BY, as the scan runs them);
  cases the cases table read twice (the case groups' join, the case count) against once, the
        window's cases materialised (bench/report_forms_cases.py).

It prints each time and candidate / baseline (scan: each form / the floor).

    .venv/bin/python bench/bench_report_forms.py --rows 3_000_000 --rounds 2
    .venv/bin/python bench/bench_report_forms.py --rows 10_000_000 --forms predictions,sort,statistics
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Select,
    String,
    cast,
    create_engine,
    func,
    null,
    select,
    tuple_,
    union_all,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forms_predictions import bench_hits, bench_predictions, bench_predictions_once  # noqa: E402
from report_events import load_duckdb, load_postgres, simulate  # noqa: E402
from report_forms_cases import bench_cases  # noqa: E402

from abkit.events.schema import (  # noqa: E402
    EXPRESSION_STATISTICS,
    expression_statistics_ddl,
    selections,
)
from abkit.report import sql_source  # noqa: E402
from abkit.report.build import build_report, plan_for  # noqa: E402
from abkit.report.dialects import hour_of  # noqa: E402
from abkit.report.groups import Plan, Window  # noqa: E402
from abkit.report.one_scan import OneScan  # noqa: E402
from abkit.report.online_queries import grain_groups_query  # noqa: E402
from abkit.report.queries import arm_groups_query  # noqa: E402
from abkit.report.scan_queries import (  # noqa: E402
    INTERACTION,
    DropMaterialized,
    MaterializeAs,
    _about_shift,
    interactions_from,
    reduced_table,
    selection_groups_query,
)
from abkit.report.sql_source import SqlSource  # noqa: E402
from tests.pg_server import create_database, running_postgres  # noqa: E402


def _same_to_1e9(rows: list[tuple], others: list[tuple]) -> bool:
    """Whether two sorted row lists agree, floats to a relative 1e-9 (sums added in another order)."""
    return len(rows) == len(others) and all(
        math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) else x == y
        for a, b in zip(rows, others, strict=True)
        for x, y in zip(a, b, strict=True)
    )


def bench_sort(name: str, url: str, rounds: int) -> None:
    """The grain groups over the one scan's rows with PostgreSQL's enable_sort on (baseline) and off (the report's)."""
    source = SqlSource(url)
    if source.engine.dialect.name != "postgresql":
        source.close()
        return  # a PostgreSQL planner setting
    window = Window()
    plan = plan_for(source.bounds(window), tuple(source.experiment_phases()))
    best = {"on": float("inf"), "off": float("inf")}
    answers = {}
    with source.engine.connect() as conn:
        sql_source.postgres_report_settings(conn)
        with OneScan(conn, window, {}) as scan:
            statement = grain_groups_query(
                window, plan, {}, timedelta(0), interactions_from(reduced_table(scan.name).c, plan)
            )
            for _ in range(rounds):
                for setting in best:
                    conn.exec_driver_sql(f"SET LOCAL enable_sort = {setting}")
                    started = time.perf_counter()
                    answers[setting] = sorted(tuple(row) for row in conn.execute(statement).all())
                    best[setting] = min(best[setting], time.perf_counter() - started)
    source.close()
    same = "same to 1e-9" if _same_to_1e9(*answers.values()) else "ROWS DIFFER"
    print(
        f"grain groups on {name}: enable_sort on {best['on']:.3f} s, off {best['off']:.3f} s, "
        f"ratio {best['off'] / best['on']:.2f} ({same})"
    )


def bench_statistics(name: str, url: str, rounds: int) -> None:
    """The scan (materialised) and the whole report on PostgreSQL without (baseline) and with the
    schema's statistics on the hour the scan groups the selections by, each after a fresh ANALYZE."""
    engine = create_engine(url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        return  # PostgreSQL's CREATE STATISTICS
    scan = selection_groups_query(Window(), grouping_sets=False)
    best = {"without": float("inf"), "with": float("inf")}
    report = {(setting, workers): float("inf") for setting in best for workers in ("beside", "one")}
    answers: dict[str, list[tuple]] = {}
    drop = [f"DROP STATISTICS IF EXISTS {statistic}" for statistic, _table, _expression in EXPRESSION_STATISTICS]
    with engine.connect() as conn:
        for _ in range(rounds):
            for setting, statements in {"without": drop, "with": expression_statistics_ddl()}.items():
                for statement in [*statements, "ANALYZE selections"]:
                    conn.exec_driver_sql(statement)
                conn.commit()
                sql_source.postgres_report_settings(conn)
                started = time.perf_counter()
                conn.execute(MaterializeAs("abkit_forms_scan", scan))
                best[setting] = min(best[setting], time.perf_counter() - started)
                # sorted by their keys (the leading columns); sums may differ in the last bits, since
                # concurrent scans of one table start where the other is (synchronize_seqscans)
                scanned = conn.exec_driver_sql("SELECT * FROM abkit_forms_scan").all()
                answers[setting] = sorted((tuple(row) for row in scanned), key=repr)
                conn.execute(DropMaterialized("abkit_forms_scan"))
                conn.commit()
                # the statements beside the scan on other connections (as the CLI runs it), and all on one
                for workers, source in (("beside", SqlSource(url)), ("one", SqlSource(url, workers=1))):
                    started = time.perf_counter()
                    build_report(source)
                    report[setting, workers] = min(report[setting, workers], time.perf_counter() - started)
                    source.close()
    engine.dispose()
    same = "same to 1e-9" if _same_to_1e9(*answers.values()) else "ROWS DIFFER"
    print(
        f"scan on {name}: without statistics on the hour {best['without']:.3f} s, with {best['with']:.3f} s, "
        f"ratio {best['with'] / best['without']:.2f} ({same})"
    )
    for workers, label in (("beside", "statements beside the scan"), ("one", "one connection")):
        without, with_ = report["without", workers], report["with", workers]
        print(f"  the report, {label}: {without:.3f} s, with {with_:.3f} s, ratio {with_ / without:.2f}")


def interactions_with_case_shift(r: Any, plan: Plan) -> Any:
    """The interaction rows as they were: the arm's shift as arm_shift's CASE over every arm, in y_i and q_i."""
    total, total_sq = _about_shift(r, plan)
    keys = (r.experiment, r.model_version, r.arm, r.advocate_id, r.case_id)
    return (
        select(*keys, r.n.label("n_i"), total.label("y_i"), total_sq.label("q_i"), r.first_seen, r.last_seen)
        .where(r.family == INTERACTION)
        .subquery("interactions")
        .c
    )


def bench_shift(name: str, url: str, rounds: int) -> None:
    """The grain groups over the one scan's rows, the shift as a CASE (baseline) or joined (the report's form)."""
    source = SqlSource(url)
    window = Window()
    plan = plan_for(source.bounds(window), tuple(source.experiment_phases()))
    best = {"CASE": float("inf"), "join": float("inf")}
    answers = {}
    with source.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            sql_source.postgres_report_settings(conn)
        with OneScan(conn, window, {}) as scan:
            r = reduced_table(scan.name).c
            forms = {"CASE": interactions_with_case_shift(r, plan), "join": interactions_from(r, plan)}
            for _ in range(rounds):
                for form, interactions in forms.items():
                    statement = grain_groups_query(window, plan, {}, timedelta(0), interactions)
                    started = time.perf_counter()
                    answers[form] = sorted(tuple(row) for row in conn.execute(statement).all())
                    best[form] = min(best[form], time.perf_counter() - started)
    source.close()
    close = _same_to_1e9(*answers.values())
    print(
        f"grain groups on {name}: shift as CASE {best['CASE']:.3f} s, joined {best['join']:.3f} s, "
        f"ratio {best['join'] / best['CASE']:.2f} ({'same to 1e-9' if close else 'ROWS DIFFER'})"
    )


def _grouped(keys: list[Any], sums: bool = False, shown: list[Any] | None = None) -> Select:
    """Selections grouped by the arm and ``keys`` with the scan's aggregates (``sums``: Σx and Σx² for mean and M2)."""
    t = selections.c
    x = t.selection_time_s
    moments = (
        [func.sum(x).label("total"), func.sum(x * x).label("total_sq")]
        if sums
        else [func.avg(x).label("center"), (func.var_pop(x) * func.count()).label("m2")]
    )
    arm = [t.experiment, t.model_version, t.arm]
    extra = [func.min(x).label("low"), func.min(t.created_at).label("first_seen"), func.max(t.created_at).label("last")]
    shown = keys if shown is None else shown
    return select(*arm, *shown, func.count().label("n"), *moments, *extra).group_by(*arm, *keys)


def bench_scan(name: str, url: str, rounds: int) -> None:
    """Where the scan's cost lies: the floor against the scan and its parts, each materialised as the report does."""
    t = selections.c
    source = SqlSource(url)
    window = Window()
    plan = plan_for(source.bounds(window), tuple(source.experiment_phases()))
    postgres = source.engine.dialect.name == "postgresql"
    interaction = [t.advocate_id, t.case_id]
    small = (
        union_all(
            _grouped([t.template_id], shown=[t.template_id, cast(null(), DateTime()).label("hour")]),
            _grouped([hour_of(t.created_at)], shown=[cast(null(), String()), hour_of(t.created_at)]),
        )
        if postgres
        else select(*_grouped([]).selected_columns).group_by(
            func.grouping_sets(
                tuple_(t.experiment, t.model_version, t.arm, t.template_id),
                tuple_(t.experiment, t.model_version, t.arm, hour_of(t.created_at)),
            )
        )
    )
    forms: dict[str, Any] = {
        "floor (not written)": arm_groups_query(window, replace(plan, shifts=())),
        "floor, CASE shift (not written)": arm_groups_query(window, plan),
        "the scan": selection_groups_query(window, grouping_sets=not postgres),
        "interactions, mean and var_pop": _grouped(interaction),
        "interactions, sums": _grouped(interaction, sums=True),
        "templates and hours": small,
    }
    best = dict.fromkeys(forms, float("inf"))
    with source.engine.connect() as conn:
        if postgres:
            sql_source.postgres_report_settings(conn)
        for _ in range(rounds):
            for form, query in forms.items():
                started = time.perf_counter()
                if form.startswith("floor"):
                    conn.execute(query).all()
                else:
                    conn.execute(MaterializeAs("abkit_forms_scan", query))
                best[form] = min(best[form], time.perf_counter() - started)
                if not form.startswith("floor"):
                    conn.execute(DropMaterialized("abkit_forms_scan"))
    source.close()
    floor = best["floor (not written)"]
    for form, seconds in best.items():
        print(f"scan on {name}: {form:<32}{seconds:8.3f} s  {seconds / floor:5.2f}x the floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; best of each")
    parser.add_argument("--forms", default="hits,predictions,sort,statistics,shift,scan,cases", help="forms to time")
    args = parser.parse_args()
    benches = {
        "hits": bench_hits,
        "predictions": bench_predictions,
        "predictions_once": bench_predictions_once,
        "sort": bench_sort,
        "statistics": bench_statistics,
        "shift": bench_shift,
        "scan": bench_scan,
        "cases": bench_cases,
    }
    chosen = [name.strip() for name in args.forms.split(",") if name.strip()]
    if unknown := set(chosen) - set(benches):
        parser.error(f"--forms: unknown {sorted(unknown)}")
    frames = simulate(args.rows)
    with tempfile.TemporaryDirectory(prefix="abkit-forms-") as workdir, running_postgres() as admin:
        duckdb_url = load_duckdb(frames, Path(workdir) / "bench.duckdb")
        postgres_url = load_postgres(frames, create_database(admin, "abkit_forms"))
        del frames
        print(f"rows = {args.rows:,} selections (+ as many predictions); best of {args.rounds}", flush=True)
        for form in chosen:
            benches[form]("DuckDB", duckdb_url, args.rounds)
            benches[form]("PostgreSQL", postgres_url, args.rounds)


if __name__ == "__main__":
    main()
