"""Exact SQLite percentiles (histogram, then the wanted order statistics) against numpy.percentile."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import create_engine, insert

from abkit.events.schema import metadata, predictions
from abkit.report.groups import Window
from abkit.report.sqlite_percentiles import latency_groups, wanted_ranks


def _store(tmp_path, latencies: dict[str, list[float]]):
    engine = create_engine(f"sqlite:///{tmp_path / 'p.sqlite'}")
    metadata.create_all(engine)
    rows = [
        {
            "prediction_id": f"{version}-{i}",
            "case_id": "c",
            "message_id": "m",
            "advocate_id": "a",
            "experiment": "e",
            "arm": version,
            "model_version": version,
            "latency_ms": value,
            "created_at": datetime(2026, 1, 5),
        }
        for version, values in latencies.items()
        for i, value in enumerate(values)
    ]
    with engine.begin() as conn:
        if rows:
            conn.execute(insert(predictions), rows)

    def run(statement):
        with engine.connect() as conn:
            return conn.execute(statement).all()

    return run


@pytest.mark.parametrize(
    "values",
    [
        [7.25],  # n = 1: every percentile is the value
        [3.0, 3.0, 3.0],  # ties in one bucket
        [0.2, 0.9, 1.1, 250.75],  # buckets far apart
        list(np.random.default_rng(3).gamma(4.0, 3.0, 2_001).round(3)),
    ],
)
def test_matches_numpy_linear_percentiles(tmp_path, values):
    run = _store(tmp_path, {"v1": values, "v2": [1.0, 2.0]})
    groups = {g.model_version: g for g in latency_groups(run, Window())}
    g = groups["v1"]
    assert g.n == len(values) and g.max == max(values)
    for got, q in ((g.p50, 50), (g.p90, 90), (g.p99, 99)):
        assert got == pytest.approx(float(np.percentile(values, q)), rel=1e-12)
    assert groups["v2"].p50 == 1.5


def test_no_predictions_gives_no_groups(tmp_path):
    assert latency_groups(_store(tmp_path, {}), Window()) == []


def test_wanted_ranks_point_inside_buckets():
    totals, wanted = wanted_ranks({"v": {0: 2, 5: 3}})  # ranks 1-2 in bucket 0, 3-5 in bucket 5
    assert totals == {"v": 5}
    # n = 5: p50 -> ranks 3, 4; p90 -> 4, 5; p99 -> 4, 5; max -> 5
    assert wanted == {("v", 5): {1: 3, 2: 4, 3: 5}}
