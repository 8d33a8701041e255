"""The ``cases`` form of bench/bench_report_forms.py: how the one scan reads the cases table.

Over one materialised scan, alternating, best of the rounds:

  twice   (baseline, the report before) the case groups and guardrail rows, the scan's interactions
          joined to ``cases``, and the case count, a semi-join of ``cases`` to their case ids;
  IN      (the report's form) the window's cases, ``cases`` semi-joined to the interactions' case
          ids, materialised (and analysed on PostgreSQL) once; the count and the join read that;
  distinct  as IN, the window's cases a join of ``cases`` to the interactions' distinct case ids.

Each form's rows (the arm cases and the count) must agree; it prints each time and form / twice.
Then the whole report, alternating, with the cases read twice (:class:`CasesTwice`) and once
(the report's :class:`~abkit.report.one_scan.OneScan`), the statements beside the scan as the CLI
runs them; it prints the best and the median time of each and once / twice.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Select, select

from abkit.events.schema import cases
from abkit.report import sql_source
from abkit.report.build import build_report, plan_for
from abkit.report.case_queries import arm_cases_query, case_count_from, window_cases_query, window_cases_table
from abkit.report.groups import Plan, Window
from abkit.report.one_scan import OneScan
from abkit.report.queries import case_count_of
from abkit.report.scan_queries import DropMaterialized, MaterializeAs, interaction_keys_from, reduced_table
from abkit.report.sql_source import SqlSource

TABLE = "abkit_forms_cases"


def _cases_twice(conn: Connection, r: Any, plan: Plan) -> list[tuple]:
    arm_cases = conn.execute(arm_cases_query(interaction_keys_from(r), plan, cases)).all()
    return [*map(tuple, arm_cases), (conn.execute(case_count_of(interaction_keys_from(r))).scalar(),)]


def _distinct_keys(r: Any) -> Select:
    keys = select(interaction_keys_from(r).case_id).distinct().subquery("case_ids")
    return select(cases.c.case_id, cases.c.handle_time_s).join(keys, keys.c.case_id == cases.c.case_id)


def _cases_once(window_cases: Select) -> Callable[[Connection, Any, Plan], list[tuple]]:
    def run(conn: Connection, r: Any, plan: Plan) -> list[tuple]:
        conn.execute(MaterializeAs(TABLE, window_cases))
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"ANALYZE {TABLE}")  # as OneScan._materialize
        table = window_cases_table(TABLE)
        arm_cases = conn.execute(arm_cases_query(interaction_keys_from(r), plan, table)).all()
        return [*map(tuple, arm_cases), (conn.execute(case_count_from(table)).scalar(),)]

    return run


def _close(rows: list[tuple], others: list[tuple]) -> bool:
    """Whether two sorted row lists agree, floats to a relative 1e-9 (sums taken in another order)."""
    return len(rows) == len(others) and all(
        math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) else x == y
        for a, b in zip(rows, others, strict=True)
        for x, y in zip(a, b, strict=True)
    )


class CasesTwice(OneScan):
    """The one scan as it was: the cases groups joined to ``cases`` and the count a semi-join of it."""

    def _cases(self) -> Any:
        return cases

    def _case_count(self) -> int:
        return int(self._conn.execute(case_count_of(interaction_keys_from(self._reduced))).scalar_one())


def _bench_report(name: str, url: str, rounds: int) -> None:
    """The whole report with the cases read twice (baseline) and once, alternating."""
    times: dict[str, list[float]] = {"twice": [], "once": []}
    totals = {}
    try:
        for _ in range(rounds):
            for form, scan in (("twice", CasesTwice), ("once", OneScan)):
                sql_source.OneScan = scan  # what SqlSource.scan opens
                started = time.perf_counter()
                totals[form] = build_report(url).to_dict()["totals"]
                times[form].append(time.perf_counter() - started)
    finally:
        sql_source.OneScan = OneScan
    same = "same totals" if totals["twice"] == totals["once"] else "TOTALS DIFFER"
    best = {form: min(seconds) for form, seconds in times.items()}
    median = {form: statistics.median(seconds) for form, seconds in times.items()}
    print(
        f"  the report on {name}: twice {best['twice']:.3f} s (median {median['twice']:.3f}), once "
        f"{best['once']:.3f} s ({median['once']:.3f}), ratio {best['once'] / best['twice']:.2f} "
        f"(median {median['once'] / median['twice']:.2f}; {same})"
    )


def bench_cases(name: str, url: str, rounds: int) -> None:
    """The cases read twice (baseline) against once, materialised as IN or as a join on distinct keys."""
    source = SqlSource(url)
    window = Window()
    plan = plan_for(source.bounds(window), tuple(source.experiment_phases()))
    best: dict[str, float] = {}
    answers: dict[str, list[tuple]] = {}
    with source.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            sql_source.postgres_report_settings(conn)
        with OneScan(conn, window, {}) as scan:
            r = reduced_table(scan.name).c
            forms = {
                "twice": _cases_twice,
                "IN": _cases_once(window_cases_query(interaction_keys_from(r))),
                "distinct": _cases_once(_distinct_keys(r)),
            }
            for _ in range(rounds):
                for form, run in forms.items():
                    started = time.perf_counter()
                    rows = run(conn, r, plan)
                    best[form] = min(best.get(form, float("inf")), time.perf_counter() - started)
                    answers[form] = sorted(rows, key=repr)  # by the leading keys
                    conn.execute(DropMaterialized(TABLE))
    source.close()
    baseline = answers["twice"]
    same = "same to 1e-9" if all(_close(rows, baseline) for rows in answers.values()) else "ROWS DIFFER"
    base = best["twice"]
    times = ", ".join(f"{form} {seconds:.3f} s ({seconds / base:.2f}x)" for form, seconds in best.items())
    print(f"cases on {name}: {times} ({same})", flush=True)
    _bench_report(name, url, rounds)
