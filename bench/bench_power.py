"""Benchmark: what the power of running experiments adds to a report, and what `abkit power` costs.

On the same simulated store, in one run and alternating so that machine drift hits both alike:

  report            abkit.report.build_report, with the power of running experiments (one more query
                    over the last 14 days of traffic and the pre-periods);
  report w/o power  the same report from a source that does not offer the power query;
  abkit power       the command's work for one experiment (bounds, the power query, the maths).

It prints the median of each, the report's cost ratio (with / without power) and abkit power
against the report.

    .venv/bin/python bench/bench_power.py --rows 1000000
    .venv/bin/python bench/bench_power.py --rows 200000 --engines sqlite,duckdb --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from abkit.cli.power import _plan  # noqa: E402
from abkit.report.build import build_report, open_source  # noqa: E402


class WithoutPower:
    """A report source that hides its power query, so build_report leaves ``power`` empty."""

    def __init__(self, source: Any):
        self._source = source

    def __getattr__(self, name: str) -> Any:
        if name == "power_groups":
            raise AttributeError(name)
        return getattr(self._source, name)


def _simulate(url: str, rows: int) -> None:
    command = [sys.executable, "-m", "abkit.cli.main", "simulate", "--db", url, "--scale", str(rows), "-q"]
    subprocess.run(command, check=True)


def _timed(job: Callable[[], Any]) -> float:
    start = time.perf_counter()
    job()
    return time.perf_counter() - start


def bench(url: str, repeats: int) -> dict[str, float]:
    source = open_source(url)
    try:
        jobs: dict[str, Callable[[], Any]] = {
            "report": lambda: build_report(source),
            "report w/o power": lambda: build_report(WithoutPower(source)),
            "abkit power": lambda: _plan(url, "standing", 0.5, None, 14.0, 28.0),
        }
        # one untimed pass warms the page cache; then the jobs alternate
        for job in jobs.values():
            job()
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(repeats):
            for name, job in jobs.items():
                times[name].append(_timed(job))
        assert build_report(source).power and not build_report(WithoutPower(source)).power
    finally:
        source.close()  # type: ignore[attr-defined]
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="simulated selections")
    parser.add_argument("--engines", default="sqlite", help="comma-separated: sqlite, duckdb")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines.split(","):
            url = {"sqlite": f"sqlite:///{folder}/events.sqlite", "duckdb": f"duckdb:///{folder}/events.duckdb"}[engine]
            _simulate(url, args.rows)
            median = bench(url, args.repeats)
            print(f"{engine}, {args.rows:,} selections, median of {args.repeats}:")
            for name, seconds in median.items():
                print(f"  {name:<17} {seconds:8.3f} s")
            print(f"  report with / without power: {median['report'] / median['report w/o power']:.2f}x")
            print(f"  abkit power / report:        {median['abkit power'] / median['report']:.2f}x")


if __name__ == "__main__":
    main()
