"""Throughput of `abkit ingest` on a file of selections, beside a whole-file polars load.

    .venv/bin/python bench/bench_ingest.py [--rows 300000] [--chunk-rows 100000] [--format csv|jsonl]

The candidate is :func:`abkit.ingest.ingest_paths`, what `abkit ingest` runs: check the file,
read it in chunks with the row numbers and text kept for rejects, validate and write each
chunk in its own transaction. The baseline reads the whole file at once with
``polars.read_csv`` (``polars.read_ndjson`` for JSON Lines) and hands it to
``EventStore.write(quarantine=True)`` in one transaction: no row numbers, no raw text, memory growing with the file. Both write into an empty SQLite
store; the ratio is baseline time / candidate time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_events_write import selection_frame  # noqa: E402

from abkit.events import EventStore  # noqa: E402
from abkit.ingest import ingest_paths  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"selections.{args.format}")
        frame = selection_frame(args.rows)
        # One bad row in a hundred, so the reject path is part of the work.
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) % 100 == 0)
            .then(-1.0)
            .otherwise(pl.col("selection_time_s"))
            .alias("selection_time_s")
        )
        if args.format == "csv":
            frame.write_csv(path)
        else:
            frame.with_columns(pl.col("created_at").dt.to_string("%Y-%m-%dT%H:%M:%S")).write_ndjson(path)

        start = time.perf_counter()
        store = EventStore.open(str(Path(tmp, "baseline.sqlite")))
        if args.format == "csv":
            whole = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        else:
            whole = pl.read_ndjson(path)
        base = store.write("selection", whole, quarantine=True, source=str(path))
        base_s = time.perf_counter() - start

        start = time.perf_counter()
        store = EventStore.open(str(Path(tmp, "candidate.sqlite")))
        (cand,) = ingest_paths(store, [path], chunk_rows=args.chunk_rows, progress=False)
        cand_s = time.perf_counter() - start
    if (cand.accepted, cand.rejected) != (base.accepted, base.rejected):
        raise SystemExit(f"candidate and baseline disagree: {cand} vs {base}")
    print(
        f"{'JSON Lines, ' if args.format == 'jsonl' else ''}rows: {args.rows:,} "
        f"({cand.accepted:,} accepted, {cand.rejected:,} rejected), chunk: {args.chunk_rows:,}"
    )
    reader = "read_csv" if args.format == "csv" else "read_ndjson"
    print(f"baseline (polars.{reader} whole file + one write): {args.rows / base_s:,.0f} rows/s ({base_s:.1f} s)")
    print(
        f"candidate (ingest_paths, chunked, row numbers and raw text): {args.rows / cand_s:,.0f} rows/s ({cand_s:.1f} s)"
    )
    print(f"ratio baseline/candidate time: {base_s / cand_s:.2f}")


if __name__ == "__main__":
    main()
