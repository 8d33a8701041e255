"""Benchmark: the report over a Parquet export, DuckDB running the report's SQL vs the polars backend.

The candidate is this tree's route for an export directory (``FilesSource``: DuckDB views over
the files, the same SQL statements as on any event store). The baseline is the polars
re-implementation of every aggregate (``abkit/report/polars_source.py``) as committed at
``--polars-rev``, loaded beside this tree's other modules (bench/baseline_rev.py). Both read the
same simulated Parquet files (report_events.simulate) and must give the same report (to 1e-9);
their times alternate in one run so that machine drift hits both alike.

    .venv/bin/python bench/bench_files_engine.py --rows 1000000 --polars-rev 95eb3c8

The polars module implements the report's source interface of its own revision. Since the
report moved to per-arm shifts and phases (2ebeb24) the two no longer fit together, so run the
bench from a checkout of the tree that removed polars (d4c9602), where they still do:

    git worktree add /tmp/files-bench d4c9602 && cd /tmp/files-bench && \
        /path/to/.venv/bin/python bench/bench_files_engine.py --rows 1000000
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_rev import alternating_medians_ms, module_at  # noqa: E402
from report_events import load_parquet, simulate  # noqa: E402

from abkit.report.build import build_report  # noqa: E402

NOW = datetime(2026, 6, 1)  # one generated_at for both documents


def _differences(left: object, right: object, path: str = "report") -> list[str]:
    """Paths where two report documents differ (floats beyond a relative 1e-9)."""
    if isinstance(left, dict) and isinstance(right, dict):
        if set(left) != set(right):
            return [f"{path}: keys {sorted(set(left) ^ set(right))}"]
        return [d for key in left for d in _differences(left[key], right[key], f"{path}.{key}")]
    if isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            return [f"{path}: lengths {len(left)} != {len(right)}"]
        return [d for i, (a, b) in enumerate(zip(left, right, strict=True)) for d in _differences(a, b, f"{path}[{i}]")]
    if isinstance(left, float) and isinstance(right, float):
        same = math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(left) and math.isnan(right))
        return [] if same else [f"{path}: {left} != {right}"]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="simulated selections (default 1M)")
    parser.add_argument(
        "--polars-rev", default="95eb3c8", help="a revision that has polars_source.py (default: its last)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median over them)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the Parquet files go (default: temp)")
    args = parser.parse_args()

    try:
        polars_source = module_at(args.polars_rev, "abkit/report/polars_source.py", "baseline_polars_source")
    except ImportError as error:
        raise SystemExit(
            f"polars_source at {args.polars_rev} does not fit this tree's report ({error}); "
            "run this bench from a checkout of d4c9602 (see its docstring)"
        ) from None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="abkit-bench-files-"))
    try:
        started = time.perf_counter()
        directory = load_parquet(simulate(args.rows), workdir / "parquet")
        print(f"simulated and wrote {args.rows:,} selections in {time.perf_counter() - started:.1f} s", flush=True)

        def candidate() -> dict:
            return build_report(directory, now=NOW).to_dict()

        def baseline() -> dict:
            return build_report(polars_source.PolarsSource(directory), now=NOW).to_dict()

        differences = _differences(candidate(), baseline())  # also warms the page cache for both
        if differences:
            raise SystemExit("the two backends disagree:\n" + "\n".join(differences[:20]))
        base_ms, cand_ms = alternating_medians_ms(baseline, candidate, args.rounds, 1)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"rows = {args.rows:,} selections (+ as many predictions); medians of {args.rounds} alternating rounds")
    print(f"baseline  (polars backend at {args.polars_rev}): {base_ms / 1000:.2f} s")
    print(f"candidate (DuckDB running the report's SQL):   {cand_ms / 1000:.2f} s")
    print(f"ratio candidate/baseline time: {cand_ms / base_ms:.2f}")


if __name__ == "__main__":
    main()
