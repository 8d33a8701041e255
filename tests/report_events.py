"""A small deterministic event set for the report tests, written through the EventStore.

Three experiments: ``standing`` (holdout / v1), ``v2-challenger`` (holdout / v1 / v2) and
``v3-pilot`` (v3 only: a version with no holdout). Interactions carry 1-4 selections each so
the clustered variance differs from the selection-level one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from abkit.events import EventStore

START = datetime(2026, 1, 5)  # a Monday
TEMPLATES = [f"T{i:02d}" for i in range(12)]
EXPERIMENTS = {
    "standing": [("holdout", 0.2), ("v1", 0.8)],
    "v2-challenger": [("holdout", 0.1), ("v1", 0.45), ("v2", 0.45)],
    "v3-pilot": [("holdout", 0.01), ("v3", 0.99)],
}
PHASES_RECORDED = datetime(2025, 12, 1)  # before every event: one phase per experiment
RELEASES = {"v1": datetime(2025, 12, 1), "v2": datetime(2026, 1, 10)}
MEAN_S = {"holdout": 19.0, "v1": 13.0, "v2": 12.5, "v3": 12.0}


def event_frames(seed: int = 7, interactions: int = 240) -> dict[str, pl.DataFrame]:
    """Predictions, selections and cases as polars frames (same column names as the tables)."""
    rng = np.random.default_rng(seed)
    predictions, selections, case_rows = [], [], {}
    names = list(EXPERIMENTS)
    for i in range(interactions):
        experiment = names[i % 3]
        arms = EXPERIMENTS[experiment]
        if experiment == "v3-pilot":
            arm = "v3"
        else:
            arm = str(rng.choice([a for a, _ in arms], p=np.array([w for _, w in arms]) / sum(w for _, w in arms)))
        version = {"standing": "v1", "v2-challenger": "v1", "v3-pilot": "v3"}[experiment] if arm == "holdout" else arm
        advocate, case_id = f"a{i % 7}", f"c{i:04d}"
        effect = rng.normal(0, 2.0)  # interaction effect: selections in one interaction correlate
        # time spreads over 3 weeks; v2 appears a few days after v1
        base_time = START + timedelta(hours=int(rng.integers(0, 21 * 24)))
        for j in range(int(rng.integers(1, 5))):
            template = TEMPLATES[int(rng.integers(0, len(TEMPLATES)))]
            top = list(rng.permutation(TEMPLATES)[:5])
            if rng.random() < 0.5 and template not in top:
                top[int(rng.integers(0, 5))] = template
            created = base_time + timedelta(minutes=3 * j)
            pid = f"p{i:04d}-{j}"
            predictions.append(
                {
                    "prediction_id": pid,
                    "case_id": case_id,
                    "message_id": f"m{i:04d}-{j}",
                    "advocate_id": advocate,
                    "experiment": experiment,
                    "arm": arm,
                    "model_version": version,
                    **{f"template_id_{r + 1}": top[r] for r in range(5)},
                    **{f"score_{r + 1}": 0.5 / (r + 1) for r in range(5)},
                    "latency_ms": float(np.round(rng.gamma(4.0, 3.0), 3)),
                    "created_at": created,
                }
            )
            selections.append(
                {
                    "selection_id": f"s{i:04d}-{j}",
                    "case_id": case_id,
                    "message_id": f"m{i:04d}-{j}",
                    "advocate_id": advocate,
                    "experiment": experiment,
                    "arm": arm,
                    "model_version": version,
                    "template_id": template,
                    "selection_time_s": float(max(0.5, MEAN_S[arm] + effect + rng.normal(0, 3.0))),
                    "created_at": created + timedelta(seconds=20),
                    "prediction_id": pid,
                }
            )
        case_rows[case_id] = {
            "case_id": case_id,
            "handle_time_s": float(rng.uniform(200, 600)),
            "closed_at": base_time + timedelta(hours=1),
        }
    return {
        "prediction": pl.DataFrame(predictions),
        "selection": pl.DataFrame(selections),
        "case": pl.DataFrame(list(case_rows.values())),
    }


def write_events(url: str, frames: dict[str, pl.DataFrame], *, register: bool = True) -> EventStore:
    """Write the frames (and the experiments and releases) into a fresh store at ``url``."""
    store = EventStore.open(url)
    if register:
        for name, arms in EXPERIMENTS.items():
            store.register_experiment(name, name, arms, at=PHASES_RECORDED)
        for version, released in RELEASES.items():
            store.register_model_version(version, released_at=released)
    for kind in ("prediction", "selection", "case"):
        store.write(kind, frames[kind])
    return store
