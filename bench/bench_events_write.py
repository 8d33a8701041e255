"""Write throughput of EventStore.write beside plain SQLAlchemy Core inserts, on SQLite or DuckDB.

    .venv/bin/python bench/bench_events_write.py [--rows 1000000] [--backend sqlite|duckdb]

Both write the same typed polars frame of selections into an empty store, in batches of
``--batch`` rows (one transaction each), as the simulator does. The candidate is
``EventStore.write`` (validation, then driver-level executemany, or an Arrow insert on DuckDB).
The baseline skips validation and does what SQLAlchemy Core does by itself: per batch, look up
which ids exist, then ``conn.execute(insert(table), rows_as_dicts)``. The ratio is
baseline time / candidate time (> 1: the store is faster although it validates too). On
SQLite a third line gives the floor: sqlite3's own executemany of ready tuples.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import insert, select

from abkit.events import EventStore
from abkit.events.schema import selections


def selection_frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    arm = np.where(rng.random(n) < 0.02, "holdout", "v1")
    start = datetime(2026, 1, 1)
    return pl.DataFrame(
        {
            "selection_id": [f"s{i:010d}" for i in ids],
            "case_id": [f"c{i // 4:09d}" for i in ids],
            "message_id": [f"m{i:010d}" for i in ids],
            "advocate_id": [f"a{i:04d}" for i in rng.integers(0, 2000, n)],
            "experiment": ["standing"] * n,
            "arm": arm,
            "model_version": ["v1"] * n,
            "template_id": [f"T{i:04d}" for i in rng.zipf(1.3, n) % 640],
            "selection_time_s": rng.gamma(4.0, 3.5, n),
            "created_at": pl.Series([start + timedelta(seconds=int(s)) for s in ids * 3], dtype=pl.Datetime("us")),
            "prediction_id": [f"p{i:010d}" for i in ids],
        }
    )


def candidate(url: str, frame: pl.DataFrame, batch: int) -> float:
    store = EventStore.open(url)
    start = time.perf_counter()
    for offset in range(0, frame.height, batch):
        store.write("selection", frame.slice(offset, batch))
    return time.perf_counter() - start


def baseline(url: str, frame: pl.DataFrame, batch: int) -> float:
    store = EventStore.open(url)
    start = time.perf_counter()
    for offset in range(0, frame.height, batch):
        chunk = frame.slice(offset, batch)
        with store.engine.begin() as conn:
            ids = chunk["selection_id"].to_list()
            existing = set()
            for i in range(0, len(ids), 5000):
                column = selections.c.selection_id
                existing.update(conn.execute(select(column).where(column.in_(ids[i : i + 5000]))).scalars())
            rows = chunk.filter(~pl.col("selection_id").is_in(list(existing))).to_dicts()
            conn.execute(insert(selections), rows)
    return time.perf_counter() - start


def sqlite_floor(path: Path, frame: pl.DataFrame, batch: int) -> float:
    """SQLite's own executemany of the same rows as tuples: no SQLAlchemy, no validation."""
    store = EventStore.open(str(path))  # creates the same tables and indexes
    store.engine.dispose()
    rows = frame.with_columns(pl.col("created_at").dt.strftime("%Y-%m-%d %H:%M:%S%.6f")).rows()
    names = ", ".join(frame.columns)
    marks = ", ".join("?" * len(frame.columns))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        start = time.perf_counter()
        for offset in range(0, len(rows), batch):
            conn.executemany(
                f"INSERT INTO selections ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                rows[offset : offset + batch],
            )
            conn.commit()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--backend", choices=["sqlite", "duckdb"], default="sqlite")
    args = parser.parse_args()
    frame = selection_frame(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        base_s = baseline(f"{args.backend}:///{Path(tmp, 'baseline.db')}", frame, args.batch)
        cand_s = candidate(f"{args.backend}:///{Path(tmp, 'candidate.db')}", frame, args.batch)
    print(f"backend: {args.backend}, rows: {args.rows:,}, batch: {args.batch:,}")
    print(
        f"baseline (SQLAlchemy Core insert + id lookup, no validation): {args.rows / base_s:,.0f} rows/s ({base_s:.1f} s)"
    )
    print(f"candidate (EventStore.write, validated): {args.rows / cand_s:,.0f} rows/s ({cand_s:.1f} s)")
    print(f"ratio baseline/candidate time: {base_s / cand_s:.2f}")
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            floor_s = sqlite_floor(Path(tmp, "floor.sqlite"), frame, args.batch)
        print(f"floor (sqlite3 executemany of ready tuples): {args.rows / floor_s:,.0f} rows/s ({floor_s:.1f} s)")
        print(f"ratio candidate/floor time: {cand_s / floor_s:.2f}")
    print(f"10M selections at this rate: {10_000_000 / (args.rows / cand_s) / 60:.1f} min")


if __name__ == "__main__":
    main()
