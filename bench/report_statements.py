"""Where a report's time goes: every SQL statement it runs, timed and named by the family it serves.

Used by ``bench/bench_report.py --statements``. SQLAlchemy's cursor events time each statement on
every engine (the report opens its own); statements that run side by side on other connections
overlap, so the times add up to more than the report's wall time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event

# (what the statement's text contains, and also contains, the family it serves), first match wins
LABELS = (
    ("CREATE TEMPORARY TABLE", "pre_period", "CUPED covariate (materialise)"),
    ("CACHE TABLE", "pre_period", "CUPED covariate (materialise)"),
    ("CREATE TEMPORARY TABLE", "FROM cases", "window's cases (materialise)"),
    ("CACHE TABLE", "FROM cases", "window's cases (materialise)"),
    ("CREATE TEMPORARY TABLE", "", "one scan (materialise)"),
    ("CACHE TABLE", "", "one scan (materialise)"),
    ("ANALYZE", "", "analyse the scan's tables"),
    ("with_history", "", "grain groups (CUPED, sequence)"),
    ("straddling", "", "power (its days' interactions, straddlers re-read)"),
    ("FROM (SELECT", "recent", "power (interactions of its days)"),
    ("max(interactions.last_seen)", "", "power (where straddlers end)"),
    ("DROP ", "", "drop the scan"),
    ("percentile", "UNION ALL", "prediction days and latency"),
    ("percentile", "", "latency"),
    ("latency_ms", "", "latency"),
    ("JOIN predictions", "", "hits"),
    ("FROM predictions", "", "prediction days"),
    ("pre_period", "", "CUPED covariate over the selections"),
    ("arm_case_times", "", "cases, guardrail"),
    ("count(*)", "_cases", "case count"),
    ("JOIN cases", "", "cases, guardrail"),
    ("FROM cases", "", "case count"),
    ("min(abkit_scan_", "", "bounds (hour rows)"),
    ("AS start", "abkit_scan_", "time buckets (hour rows)"),
    ("template_id", "abkit_scan_", "templates (template rows)"),
    ("phased", "abkit_scan_", "arms (interaction rows)"),
)


def label(sql: str) -> str:
    """The family a statement serves, or the start of its text."""
    for needle, also, name in LABELS:
        if needle in sql and also in sql:
            return name
    return " ".join(sql.split())[:60]


@contextmanager
def statement_times() -> Iterator[list[tuple[float, str]]]:
    """Collect (seconds, label) for every statement any engine runs inside the block."""
    times: list[tuple[float, str]] = []
    started = threading.local()
    lock = threading.Lock()

    def before(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        started.at = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        elapsed = time.perf_counter() - getattr(started, "at", time.perf_counter())
        with lock:
            times.append((elapsed, label(statement)))

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield times
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)


def profile(run: Callable[[], object]) -> list[tuple[float, str]]:
    """Run ``run`` once and return its statements' (seconds, label), slowest first."""
    with statement_times() as times:
        run()
    return sorted(times, reverse=True)


def print_profile(engine: str, times: list[tuple[float, str]], wall: float, top: int = 12) -> None:
    print(f"{engine}: statements of one report ({wall:.2f} s wall; side-by-side statements overlap)")
    for seconds, name in times[:top]:
        print(f"  {seconds:8.3f} s  {name}")
