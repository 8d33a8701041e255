"""A small event store for the power tests: advocates with persistent speeds, a pre-period, a running challenger.

``standing`` (holdout 0.2 / v4 0.8) runs from day 0; ``v5-test`` (holdout 0.1 / v4 0.45 / v5 0.45)
starts on day 28, so its advocates' selections in ``standing`` over the 28 days before make the
CUPED covariate, and runs 14 days. Each advocate has a persistent speed offset (sd 3 s), so the
covariate correlates with the outcome. ``frame`` is returned too, so tests can compute the
figures from the raw selections.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from abkit.events import EventStore

START = datetime(2026, 3, 2)
CHALLENGER_START = START + timedelta(days=28)
END_DAY = 42
ARMS = {
    "standing": (("holdout", 0.2), ("v4", 0.8)),
    "v5-test": (("holdout", 0.1), ("v4", 0.45), ("v5", 0.45)),
}
MEAN_S = {"holdout": 19.0, "v4": 13.0, "v5": 12.5}
ADVOCATES = 40


def power_frame(seed: int = 3, interactions_per_day: int = 30) -> pl.DataFrame:
    """Selections: each day ``interactions_per_day`` interactions per running experiment, 1-4 selections each."""
    rng = np.random.default_rng(seed)
    speed = rng.normal(0, 3.0, ADVOCATES)
    rows = []
    for day in range(END_DAY):
        running = ["standing"] if day < 28 else ["standing", "v5-test"]
        for experiment in running:
            names, weights = zip(*ARMS[experiment], strict=True)
            for i in range(interactions_per_day):
                arm = str(rng.choice(names, p=weights))
                advocate = int(rng.integers(0, ADVOCATES))
                case_id = f"{experiment}-{day:02d}-{i:03d}"
                moment = START + timedelta(days=day, minutes=int(rng.integers(0, 24 * 60 - 30)))
                effect = rng.normal(0, 2.0)
                for j in range(int(rng.integers(1, 5))):
                    rows.append(
                        {
                            "selection_id": f"s-{case_id}-{j}",
                            "case_id": case_id,
                            "message_id": f"m-{case_id}-{j}",
                            "advocate_id": f"a{advocate:02d}",
                            "experiment": experiment,
                            "arm": arm,
                            "model_version": "v4" if arm == "holdout" else arm,
                            "template_id": "T01",
                            "selection_time_s": float(
                                max(0.5, MEAN_S[arm] + speed[advocate] + effect + rng.normal(0, 3))
                            ),
                            "created_at": moment + timedelta(minutes=3 * j),
                            "prediction_id": None,
                        }
                    )
    return pl.DataFrame(rows)


def write_power_events(url: str, frame: pl.DataFrame) -> None:
    """Register both experiments (phase 1 at their starts) and write the selections."""
    store = EventStore.open(url)
    store.register_experiment("standing", "standing", ARMS["standing"], at=START)
    store.register_experiment("v5-test", "v5-test", ARMS["v5-test"], at=CHALLENGER_START)
    store.write("selection", frame)
    store.close()
