"""The events every report bench writes: N simulated selections, one prediction each, one case per
interaction, the experiments registry and model releases; and loaders into SQLite, DuckDB, PostgreSQL
and a Parquet export directory. Used by bench_report.py and bench_files_engine.py.
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import psycopg
from sqlalchemy import create_engine

from abkit.events import columns as c
from abkit.events.schema import metadata

START = datetime(2026, 1, 5)
TEMPLATES = 640
VERSIONS = ("v1", "v2", "v3", "v4")
MEAN_S = {"holdout": 19.0, "v1": 13.5, "v2": 13.0, "v3": 12.6, "v4": 12.0}
EXPERIMENTS = {
    "standing": [["holdout", 0.02], ["v4", 0.98]],
    "v4-challenger": [["holdout", 0.02], ["v3", 0.49], ["v4", 0.49]],
}


# -- data ------------------------------------------------------------------------------------


def simulate(rows: int, seed: int = 1) -> dict[str, pl.DataFrame]:
    """N selections over 16 weeks: a standing holdout on the version of the period (v1..v4, four
    weeks each) and a two-week v3-vs-v4 challenger; about three selections per interaction."""
    rng = np.random.default_rng(seed)
    interactions = max(rows // 3, 1)
    challenger = rng.random(interactions) < 0.2
    day = np.where(challenger, rng.uniform(70, 84, interactions), rng.uniform(0, 112, interactions))
    period_version = np.array(VERSIONS)[np.minimum((day // 28).astype(int), 3)]
    draw = rng.random(interactions)
    arm = np.where(draw < 0.02, "holdout", np.where(challenger, np.where(draw < 0.51, "v3", "v4"), period_version))
    version = np.where(arm == "holdout", np.where(challenger, "v4", period_version), arm)
    effect = rng.normal(0, 2.0, interactions)

    owner = np.sort(rng.integers(0, interactions, rows))
    template = rng.choice(TEMPLATES, rows, p=(w := 1.0 / (np.arange(TEMPLATES) + 10)) / w.sum())
    means = np.vectorize(MEAN_S.get)(arm)[owner]
    seconds = np.maximum(0.5, means + effect[owner] + rng.normal(0, 4.0, rows))
    created = pd.to_datetime(START) + pd.to_timedelta(day[owner] * 86400 + rng.uniform(0, 600, rows), unit="s")
    top = rng.integers(0, TEMPLATES, (rows, 5))
    hit_rank = rng.choice(6, rows, p=[0.45, 0.14, 0.08, 0.05, 0.03, 0.25])
    for rank in range(5):
        top[hit_rank == rank, rank] = template[hit_rank == rank]

    ids = pl.DataFrame({"i": np.arange(rows), "owner": owner})
    experiment = np.where(challenger, "v4-challenger", "standing")
    common = {
        c.CASE_ID: ids.select(pl.format("c{}", "owner")).to_series(),
        c.MESSAGE_ID: ids.select(pl.format("m{}", "i")).to_series(),
        c.ADVOCATE_ID: pl.Series((owner % 800).astype(str)),
        c.EXPERIMENT: pl.Series(experiment[owner]),
        c.ARM: pl.Series(arm[owner]),
        c.MODEL_VERSION: pl.Series(version[owner]),
    }
    prediction_id = ids.select(pl.format("p{}", "i")).to_series()
    template_ids = pl.DataFrame(top).select(pl.format("T{}", pl.all()))
    predictions = pl.DataFrame(
        {
            c.PREDICTION_ID: prediction_id,
            **common,
            **{name: template_ids[:, k] for k, name in enumerate(c.TEMPLATE_ID_COLUMNS)},
            **{name: pl.Series(np.full(rows, 0.5 / (k + 1))) for k, name in enumerate(c.SCORE_COLUMNS)},
            c.LATENCY_MS: rng.gamma(4.0, 3.0, rows).round(3),
            c.CREATED_AT: pl.Series(created.to_numpy()).cast(pl.Datetime("us")),
        }
    )
    selections = pl.DataFrame(
        {
            c.SELECTION_ID: ids.select(pl.format("s{}", "i")).to_series(),
            **common,
            c.TEMPLATE_ID: pl.DataFrame({"t": template}).select(pl.format("T{}", "t")).to_series(),
            c.SELECTION_TIME_S: seconds,
            c.CREATED_AT: pl.Series(created.to_numpy()).cast(pl.Datetime("us")),
            c.PREDICTION_ID: prediction_id,
        }
    ).with_columns(pl.col(c.CREATED_AT) + pl.duration(seconds=20))
    cases = pl.DataFrame(
        {
            c.CASE_ID: pl.DataFrame({"k": np.arange(interactions)}).select(pl.format("c{}", "k")).to_series(),
            c.HANDLE_TIME_S: rng.uniform(200, 900, interactions),
            c.CLOSED_AT: pl.Series((pd.to_datetime(START) + pd.to_timedelta(day * 86400 + 3600, unit="s")).to_numpy()),
        }
    ).cast({c.CLOSED_AT: pl.Datetime("us")})
    return {"selections": selections, "predictions": predictions, "cases": cases}


def registry_rows() -> tuple[list[dict], list[dict]]:
    experiments = [
        {"name": name, "salt": name, "arms_json": json.dumps(arms), "created_at": START}
        for name, arms in EXPERIMENTS.items()
    ]
    releases = [{"model_version": v, "released_at": START + pd.Timedelta(days=28 * i)} for i, v in enumerate(VERSIONS)]
    return experiments, releases


def _ordered(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    return frame.select([column.name for column in metadata.tables[table].columns if column.name in frame.columns])


def load_sqlite(frames: dict[str, pl.DataFrame], path: Path) -> str:
    url = f"sqlite:///{path}"
    metadata.create_all(create_engine(url))
    experiments, releases = registry_rows()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for table, frame in frames.items():
            frame = _ordered(frame, table).with_columns(
                pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S.%6f")  # SQLAlchemy's SQLite format
            )
            marks = ",".join("?" * frame.width)
            for chunk in frame.iter_slices(200_000):
                conn.executemany(f"INSERT INTO {table} ({','.join(frame.columns)}) VALUES ({marks})", chunk.iter_rows())
        for table, rows in (("experiments", experiments), ("model_versions", releases)):
            frame = pl.DataFrame(rows).with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S.%6f"))
            conn.executemany(
                f"INSERT INTO {table} ({','.join(frame.columns)}) VALUES ({','.join('?' * frame.width)})",
                frame.iter_rows(),
            )
        conn.execute("ANALYZE")
    return url


def load_duckdb(frames: dict[str, pl.DataFrame], path: Path) -> str:
    url = f"duckdb:///{path}"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
    experiments, releases = registry_rows()
    with duckdb.connect(str(path)) as conn:
        for table, frame in {
            **frames,
            "experiments": pl.DataFrame(experiments),
            "model_versions": pl.DataFrame(releases),
        }.items():
            arrow = _ordered(frame, table).to_arrow()  # noqa: F841 - read by DuckDB's replacement scan
            conn.execute(f"INSERT INTO {table} ({','.join(arrow.column_names)}) SELECT * FROM arrow")
    return url


def load_postgres(frames: dict[str, pl.DataFrame], url: str) -> str:
    metadata.create_all(create_engine(url))
    experiments, releases = registry_rows()
    dsn = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        for table, frame in {
            **frames,
            "experiments": pl.DataFrame(experiments),
            "model_versions": pl.DataFrame(releases),
        }.items():
            frame = _ordered(frame, table)
            with cursor.copy(f"COPY {table} ({','.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
                for chunk in frame.iter_slices(500_000):
                    buffer = io.BytesIO()
                    chunk.write_csv(buffer, include_header=False)
                    copy.write(buffer.getvalue())
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return url


def load_parquet(frames: dict[str, pl.DataFrame], directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    experiments, releases = registry_rows()
    for table, frame in {
        **frames,
        "experiments": pl.DataFrame(experiments),
        "model_versions": pl.DataFrame(releases),
    }.items():
        frame.write_parquet(directory / f"{table}.parquet")
    return str(directory)


# -- the three routes ------------------------------------------------------------------------


# A Spark engine's source is this prefix and its Parquet directory; one local session serves the run.
