"""Benchmark: the full report against a bare GROUP BY scan and the naive pandas + scipy route.

For each engine (SQLite, DuckDB, PostgreSQL, a Parquet export read in place by DuckDB, Spark SQL in
local mode over a Parquet export) this writes the same N simulated selections (and one prediction
per selection, one case per interaction), then times, in one run and on the same data:

  bare    one `GROUP BY model_version, arm` aggregate (n, sum, sum of squares) on the engine;
  floor   the per-interaction reduction alone (selections grouped by experiment, version, arm,
          advocate and case, then summed per arm): the one aggregate the clustered variance
          cannot do without, so no report that tests at the randomisation unit costs less;
  pred    the predictions floor: one GROUP BY of the predictions per UTC day, experiment and arm
          (the report's own prediction-days query alone), the least any report that counts
          predictions per day must read of that second table;
  report  abkit.report.build_report (every figure family, pushed down to the engine);
  naive   loading the events into pandas and computing the report's figures with scipy.

It prints report / bare, floor / bare, report / floor, report / (floor + pred) and naive / report, the peak Python memory
(tracemalloc) of the report in a separate, untimed pass, and the peak RSS of the naive route,
which runs in a child process under an address-space cap (--naive-memory-gib) so that a naive
route that does not fit is reported as out of memory instead of swapping the machine.

    .venv/bin/python bench/bench_report.py --rows 10000000
    .venv/bin/python bench/bench_report.py --rows 1000000 --engines sqlite,duckdb
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from multiprocessing import Queue
from pathlib import Path

import numpy as np
import pandas as pd
import pymannkendall
from scipy import stats
from sqlalchemy import Engine, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report_events import load_duckdb, load_parquet, load_postgres, load_sqlite, simulate  # noqa: E402
from report_statements import print_profile, profile  # noqa: E402

from abkit.events import columns as c  # noqa: E402
from abkit.report.build import build_report, open_source, plan_for  # noqa: E402
from abkit.report.files_source import files_engine  # noqa: E402
from abkit.report.groups import Plan, Window  # noqa: E402
from abkit.report.queries import arm_groups_query, prediction_days_query  # noqa: E402
from abkit.report.spark_source import SparkSource, create_views, spark_engine, spark_session  # noqa: E402
from abkit.report.sql_source import postgres_report_settings  # noqa: E402
from tests.pg_server import create_database, running_postgres  # noqa: E402

BARE_SQL = (
    "SELECT model_version, arm, count(*), sum(selection_time_s), sum(selection_time_s * selection_time_s) "
    "FROM selections GROUP BY model_version, arm"
)


SPARK_PREFIX = "spark:"
SPARK_MASTER = "local[*]"
_spark_sessions: list = []


def bench_spark() -> object:
    if not _spark_sessions:
        session, _ = spark_session(SPARK_MASTER, app_name="abkit-bench", config={"spark.driver.memory": "4g"})
        _spark_sessions.append(session)
    return _spark_sessions[0]


def _engine(source: str) -> Engine:
    """The engine a route runs on: the database URL, DuckDB views over the Parquet export, or Spark."""
    if source.startswith(SPARK_PREFIX):
        session = bench_spark()
        create_views(session, source.removeprefix(SPARK_PREFIX))
        return spark_engine(session)
    return create_engine(source) if "://" in source else files_engine(source)


def report_source(source: str) -> str | SparkSource:
    """What the report is given: the URL or directory, or a Spark source on the run's session."""
    if source.startswith(SPARK_PREFIX):
        return SparkSource(source.removeprefix(SPARK_PREFIX), session=bench_spark())
    return source


def bare_scan(source: str) -> None:
    engine = _engine(source)
    with engine.connect() as conn:
        conn.execute(text(BARE_SQL)).all()
    engine.dispose()


def report_plan(source: str) -> Plan:
    """The plan (per-arm shifts, phases, grain) the report itself makes for all events (untimed)."""
    given = report_source(source)
    backend = open_source(given)
    try:
        return plan_for(backend.bounds(Window()), tuple(backend.experiment_phases()))
    finally:
        if backend is not given:
            backend.close()  # type: ignore[attr-defined]


def interaction_floor(source: str, plan: Plan) -> None:
    """The report's own per-interaction reduction, run alone (the same SQL statement and phases).

    Without the arms' shifts: the fallback statement subtracts them row by row through a CASE over
    the arms, which PostgreSQL evaluates at every use; the one scan shifts the grouped rows instead,
    so a floor that paid the CASE would flatter the report.
    """
    plan = replace(plan, shifts=())
    engine = _engine(source)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            postgres_report_settings(conn)  # as the report's queries run
        conn.execute(arm_groups_query(Window(), plan)).all()
    engine.dispose()


def prediction_floor(source: str) -> None:
    """One pass over the predictions: their count per UTC day, experiment and arm (the report's query)."""
    engine = _engine(source)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            postgres_report_settings(conn)
        conn.execute(prediction_days_query(Window())).all()
    engine.dispose()


def naive_load(source: str) -> dict[str, pd.DataFrame]:
    """Every event into pandas: the route the report replaces."""
    selection_columns = [c.EXPERIMENT, c.MODEL_VERSION, c.ARM, c.ADVOCATE_ID, c.CASE_ID, c.TEMPLATE_ID]
    selection_columns += [c.SELECTION_TIME_S, c.CREATED_AT, c.PREDICTION_ID]
    prediction_columns = [c.PREDICTION_ID, c.EXPERIMENT, c.ARM, c.MODEL_VERSION, *c.TEMPLATE_ID_COLUMNS]
    prediction_columns += [c.LATENCY_MS, c.CREATED_AT]
    wanted = {"selections": selection_columns, "predictions": prediction_columns, "cases": [c.CASE_ID, c.HANDLE_TIME_S]}
    if "://" not in source:
        return {t: pd.read_parquet(Path(source) / f"{t}.parquet", columns=cols) for t, cols in wanted.items()}
    engine = create_engine(source)
    frames = {t: pd.read_sql_query(f"SELECT {', '.join(cols)} FROM {t}", engine) for t, cols in wanted.items()}
    engine.dispose()
    for frame in frames.values():
        if c.CREATED_AT in frame:
            frame[c.CREATED_AT] = pd.to_datetime(frame[c.CREATED_AT])
    return frames


def naive_report(source: str) -> dict:
    """The report's main figures computed in pandas + scipy on the loaded events."""
    frames = naive_load(source)
    s, p, cases = frames["selections"], frames["predictions"], frames["cases"]
    s["kind"] = np.where(s[c.ARM] == "holdout", "holdout", "treatment")
    out: dict = {"versions": {}}
    for version, rows in s.groupby(c.MODEL_VERSION):
        treated = rows[rows.kind == "treatment"]
        held = rows[rows.kind == "holdout"]
        if len(treated) > 1 and len(held) > 1:
            out["versions"][version] = stats.ttest_ind(
                treated[c.SELECTION_TIME_S], held[c.SELECTION_TIME_S], equal_var=False
            )
        for arm_rows in (treated, held):
            grouped = arm_rows.groupby([c.ADVOCATE_ID, c.CASE_ID])[c.SELECTION_TIME_S].agg(["count", "sum"])
            ratio = grouped["sum"].sum() / max(grouped["count"].sum(), 1)
            out.setdefault("clusters", []).append(((grouped["sum"] - ratio * grouped["count"]) ** 2).sum())
    joined = s[s.kind == "holdout"].merge(p[[c.PREDICTION_ID, *c.TEMPLATE_ID_COLUMNS]], on=c.PREDICTION_ID)
    top = joined[list(c.TEMPLATE_ID_COLUMNS)].to_numpy()
    joined["hit5"] = (top == joined[c.TEMPLATE_ID].to_numpy()[:, None]).any(axis=1)
    accuracy = joined.groupby(c.TEMPLATE_ID).hit5.mean()
    means = s.pivot_table(index=c.TEMPLATE_ID, columns="kind", values=c.SELECTION_TIME_S, aggfunc="mean")
    top_templates = s[c.TEMPLATE_ID].value_counts().index[:50]
    saving = (means["holdout"] - means["treatment"]).reindex(top_templates)
    ordered = pd.DataFrame({"acc": accuracy.reindex(top_templates), "saving": saving}).dropna().sort_values("acc")
    out["mk"] = pymannkendall.original_test(ordered.saving.to_numpy())
    out["weekly"] = s.groupby([s[c.CREATED_AT].dt.to_period("W-SUN"), "kind"])[c.SELECTION_TIME_S].mean()
    out["daily"] = p.groupby([p[c.CREATED_AT].dt.date, c.EXPERIMENT, c.ARM]).size()
    out["latency"] = p.groupby(c.MODEL_VERSION)[c.LATENCY_MS].quantile([0.5, 0.9, 0.99])
    units = s.groupby([c.EXPERIMENT, c.ARM])[[c.ADVOCATE_ID, c.CASE_ID]].value_counts().groupby(level=[0, 1]).size()
    out["srm"] = {e: stats.chisquare(units[e].to_numpy()) for e in units.index.get_level_values(0).unique()}
    per_case = s[s.kind == "treatment"].groupby([c.MODEL_VERSION, c.CASE_ID]).size().rename("n").reset_index()
    out["cases"] = (
        per_case.merge(cases, on=c.CASE_ID).groupby(c.MODEL_VERSION).agg({"n": "mean", c.HANDLE_TIME_S: "mean"})
    )
    return out


def timed(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def peak_memory(run: Callable[[], object]) -> float:
    """Peak memory traced by tracemalloc (Python and numpy allocations), in MiB."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def naive_child(source: str, repeat: int, memory_cap_bytes: int, out: Queue) -> None:
    """Child process: the naive route under an address-space cap, reporting best time and peak RSS."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_cap_bytes, memory_cap_bytes))
    try:
        elapsed = timed(lambda: naive_report(source), repeat)
    except MemoryError:
        out.put({"naive": float("nan"), "naive_oom": True})
        return
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux reports KiB
    out.put({"naive": elapsed, "naive_rss_mib": peak_kib / 1024})


def naive_in_child(source: str, repeat: int, memory_cap_gib: float) -> dict:
    """Run the naive route in a fresh process so that it cannot exhaust this machine's memory.

    The cap turns "does not fit" into a MemoryError (reported as out of memory) rather than
    swapping the machine to a halt; a fresh process also keeps the simulated frames and the
    report's imports out of the naive route's peak RSS.
    """
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=naive_child, args=(source, repeat, int(memory_cap_gib * 2**30), out))
    child.start()
    child.join()
    if out.empty():  # died without a word (killed, or crashed outside Python): not an out-of-memory verdict
        raise RuntimeError(f"the naive route's process exited with {child.exitcode} and no result")
    return out.get()


def load_engines(engines: list[str], rows: int, workdir: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    """Simulate once, write every engine's copy, then let the frames go before anything is timed."""
    started = time.perf_counter()
    frames = simulate(rows)
    print(f"simulated {rows:,} selections in {time.perf_counter() - started:.1f} s", flush=True)
    sources = {}
    for engine in engines:
        started = time.perf_counter()
        if engine == "postgresql":
            admin = stack.enter_context(running_postgres())
            sources[engine] = load_postgres(frames, create_database(admin, "abkit_bench"))
        else:
            loader = {"sqlite": load_sqlite, "duckdb": load_duckdb, "parquet": load_parquet, "spark": load_parquet}
            target = {"sqlite": "bench.sqlite", "duckdb": "bench.duckdb", "parquet": "parquet", "spark": "spark"}
            sources[engine] = loader[engine](frames, workdir / target[engine])
            if engine == "spark":
                sources[engine] = SPARK_PREFIX + sources[engine]
        print(f"loaded {engine} in {time.perf_counter() - started:.1f} s", flush=True)
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="simulated selections (default 10M)")
    parser.add_argument("--engines", default="sqlite,duckdb,postgresql,parquet,spark")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many timed runs")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass of the report")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive pandas + scipy route")
    parser.add_argument("--statements", action="store_true", help="time each SQL statement of one extra report")
    parser.add_argument(
        "--naive-memory-gib", type=float, default=12.0, help="address-space cap of the naive route's process"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    args = parser.parse_args()
    engines = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = set(engines) - {"sqlite", "duckdb", "postgresql", "parquet", "spark"}
    if unknown:
        parser.error(f"--engines: unknown {sorted(unknown)}")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="abkit-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        with contextlib.ExitStack() as stack:
            sources = load_engines(engines, args.rows, workdir, stack)
            gc.collect()
            for engine, source in sources.items():
                results.append(measure(engine, source, args))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"rows = {args.rows:,} selections (+ as many predictions); times are best of {args.repeat}")
    print(f"naive route in a child process capped at {args.naive_memory_gib:g} GiB; 'oom' = did not fit")
    print(
        f"{'engine':<11}{'bare s':>9}{'floor s':>9}{'pred s':>8}{'report s':>10}{'naive s':>10}{'report/bare':>13}"
        f"{'floor/bare':>12}{'report/floor':>14}{'report/(floor+pred)':>21}{'naive/report':>14}"
        f"{'report MiB':>12}{'naive RSS MiB':>15}"
    )
    for r in results:
        naive = "oom" if r.get("naive_oom") else f"{r['naive']:.2f}"
        speedup = "inf" if r.get("naive_oom") else f"{r['naive'] / r['report']:.2f}"
        if r["engine"] == "spark":  # no naive route of its own (it would read the parquet engine's files)
            naive = speedup = "n/a"
        print(
            f"{r['engine']:<11}{r['bare']:>9.2f}{r['floor']:>9.2f}{r['pred']:>8.2f}{r['report']:>10.2f}{naive:>10}"
            f"{r['report'] / r['bare']:>13.2f}{r['floor'] / r['bare']:>12.2f}{r['report'] / r['floor']:>14.2f}"
            f"{r['report'] / (r['floor'] + r['pred']):>21.2f}"
            f"{speedup:>14}{r.get('report_mib', float('nan')):>12.1f}{r.get('naive_rss_mib', float('nan')):>15.1f}"
        )


def measure(engine: str, source: str, args: argparse.Namespace) -> dict:
    result: dict = {"engine": engine}
    bare_scan(source)  # warm the cache so that no route pays for the first read
    result["bare"] = timed(lambda: bare_scan(source), args.repeat)
    plan = report_plan(source)
    result["floor"] = timed(lambda: interaction_floor(source, plan), args.repeat)
    prediction_floor(source)  # warm, as the selections were
    result["pred"] = timed(lambda: prediction_floor(source), args.repeat)
    result["report"] = timed(lambda: build_report(report_source(source)), args.repeat)
    if args.statements:
        started = time.perf_counter()
        times = profile(lambda: build_report(report_source(source)))
        print_profile(engine, times, time.perf_counter() - started)
    if not args.no_memory:
        result["report_mib"] = peak_memory(lambda: build_report(report_source(source)))
    if source.startswith(SPARK_PREFIX) or args.no_naive:
        result["naive"] = float("nan")  # Spark's naive route would read the same Parquet as the parquet engine's
    else:
        result.update(naive_in_child(source, args.repeat, args.naive_memory_gib))
    print(f"{engine}: {result}", flush=True)
    return result


if __name__ == "__main__":
    main()
