"""Benchmark: the one scan's rows on PostgreSQL as GROUPING SETS against three GROUP BY (UNION ALL).

Starts a throwaway PostgreSQL server, fills `selections` with N rows in the database itself
(generate_series: N/3 interactions of 3 selections, 640 templates, 4 versions, one selection
every second), then times, side by side and alternating, the two forms of
:func:`abkit.report.scan_queries.selection_groups_query` materialised as the report does
(`CREATE TEMPORARY TABLE ... AS`, under the report's work_mem), and the floor (the
per-interaction GROUP BY alone) for scale. Prints each time and the ratio.

    .venv/bin/python bench/bench_scan_forms.py --rows 10000000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy.dialects import postgresql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from abkit.report.groups import Window  # noqa: E402
from abkit.report.scan_queries import selection_groups_query  # noqa: E402
from abkit.report.sql_source import POSTGRES_WORK_MEM  # noqa: E402
from tests.pg_server import create_database, running_postgres  # noqa: E402

FILL = """
CREATE TABLE selections AS SELECT
  'standing'::varchar AS experiment,
  'v' || (i % 4)::text AS model_version,
  CASE WHEN i % 50 = 0 THEN 'holdout' ELSE 'v' || (i % 4)::text END AS arm,
  'a' || (i / 3 % 5000)::text AS advocate_id,
  'c' || (i / 3)::text AS case_id,
  't' || (i % 640)::text AS template_id,
  10 + random() * 10 AS selection_time_s,
  timestamp '2026-01-05' + i * interval '1 second' AS created_at
FROM generate_series(1, {rows}) i
"""
FLOOR = (
    "SELECT experiment, model_version, arm, advocate_id, case_id, count(*) AS n, sum(selection_time_s) AS s, "
    "sum(selection_time_s * selection_time_s) AS ss, min(created_at) AS f, max(created_at) AS l "
    "FROM selections GROUP BY experiment, model_version, arm, advocate_id, case_id"
)


def _sql(grouping_sets: bool) -> str:
    query = selection_groups_query(Window(), grouping_sets=grouping_sets)
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; best of each")
    args = parser.parse_args()
    forms = {"grouping sets": _sql(True), "three GROUP BY": _sql(False), "floor (interactions only)": FLOOR}
    best = dict.fromkeys(forms, float("inf"))
    with running_postgres() as admin:
        url = create_database(admin, "abkit_scan_forms")
        port = url.rsplit(":", 1)[1].split("/")[0]
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=abkit_scan_forms") as conn:
            conn.autocommit = True
            started = time.perf_counter()
            conn.execute(FILL.format(rows=int(args.rows)).encode())
            conn.execute(b"ANALYZE selections")
            print(f"filled {args.rows:,} selections in {time.perf_counter() - started:.1f} s", flush=True)
            conn.execute(f"SET work_mem = '{POSTGRES_WORK_MEM}'".encode())
            for round_ in range(args.rounds):
                for name, sql in forms.items():
                    conn.execute(b"DROP TABLE IF EXISTS abkit_scan_bench")
                    started = time.perf_counter()
                    conn.execute(f"CREATE TEMPORARY TABLE abkit_scan_bench AS {sql}".encode())
                    elapsed = time.perf_counter() - started
                    best[name] = min(best[name], elapsed)
                    print(f"round {round_ + 1}: {name:<26} {elapsed:8.2f} s", flush=True)
    print()
    print(f"rows = {args.rows:,}; PostgreSQL, work_mem {POSTGRES_WORK_MEM}; best of {args.rounds}")
    for name, seconds in best.items():
        print(f"{name:<26} {seconds:8.2f} s")
    print(f"grouping sets / three GROUP BY = {best['grouping sets'] / best['three GROUP BY']:.2f}")


if __name__ == "__main__":
    main()
