"""Throughput of `abkit assign --file` (CSV in, CSV out) on one core, beside a plain hashlib loop.

    .venv/bin/python bench/bench_assign.py [--units 1000000]

The candidate is :func:`abkit.assignment.bulk.assign_csv`, the function behind
`abkit assign --file units.csv --out arms.csv`: read the CSV, check the ids, hash every unit,
write the CSV. The baseline is the bare hash with no I/O and no checks: a Python loop of
SHA-256 over ids already in memory, with the arm looked up by bisect. Both run in this one
process with polars held to one thread, so the ratio says what the file handling costs.
"""

from __future__ import annotations

import os

os.environ["POLARS_MAX_THREADS"] = "1"  # one core: set before polars is imported

import argparse
import hashlib
import tempfile
import time
from bisect import bisect_right
from pathlib import Path

import polars as pl

from abkit.assignment.bulk import assign_csv
from abkit.assignment.config import ExperimentConfig
from abkit.assignment.hashing import arm_bounds

CONFIG = ExperimentConfig("bench", "bench-salt", (("holdout", 0.02), ("v3", 0.49), ("v4", 0.49)))


def baseline(advocates: list[str], cases: list[str]) -> list[str]:
    """SHA-256 of salt, advocate and case joined by \\x1f; first 8 bytes big-endian; bisect."""
    names, bounds, salt = CONFIG.arm_names, arm_bounds([w for _, w in CONFIG.arms]), CONFIG.salt
    sha256, from_bytes = hashlib.sha256, int.from_bytes
    return [
        names[bisect_right(bounds, from_bytes(sha256(f"{salt}\x1f{a}\x1f{c}".encode()).digest()[:8], "big"))]
        for a, c in zip(advocates, cases, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.units
    advocates = [f"adv-{i % 5000:05d}" for i in range(n)]
    cases = [f"case-{i:09d}" for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        units, out = Path(tmp, "units.csv"), Path(tmp, "arms.csv")
        pl.DataFrame({"advocate_id": advocates, "case_id": cases}).write_csv(units)

        start = time.perf_counter()
        expected = baseline(advocates, cases)
        baseline_s = time.perf_counter() - start

        start = time.perf_counter()
        count = assign_csv(CONFIG, units, out)
        candidate_s = time.perf_counter() - start
        arms = pl.read_csv(out, infer_schema=False)["arm"].to_list()
    if count != n or arms != expected:
        raise SystemExit("candidate and baseline disagree on the arms")
    per_minute = 60 * n / candidate_s
    print(f"units: {n:,}")
    print(f"baseline (hash loop in memory, no I/O): {60 * n / baseline_s:,.0f} units/min ({baseline_s:.2f} s)")
    print(f"candidate (assign_csv, CSV in and out): {per_minute:,.0f} units/min ({candidate_s:.2f} s)")
    print(f"ratio candidate/baseline time: {candidate_s / baseline_s:.2f}")
    print(f"target 1,000,000 units/min: {'met' if per_minute >= 1_000_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
