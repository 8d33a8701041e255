"""A small synthetic support world for the dashboard tests, written through the event API.

Three model versions released a fortnight apart (v1, v2, v3) under a standing holdout, and
one challenger test (v1 vs v2). Suggestions save time, more for templates the model ranks
well, so the report has real deltas, a template trend and a challenger result. Deterministic
for a seed. (The full simulator lives in abkit.simulate; this keeps the browser tests small.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from abkit.events import EventStore

START = datetime(2026, 1, 5)  # a Monday
DAYS = 42
HOLDOUT_WEIGHT = 0.1  # larger than production's 2% so a few thousand rows give stable figures
TEMPLATES = [f"T{i:04d}" for i in range(1, 31)]
SPEED_UP_S = {"v1": 0.0, "v2": 0.5, "v3": 0.9}  # later versions save more


def _standing_version(day: int) -> str:
    return "v1" if day < 14 else ("v2" if day < 28 else "v3")


def write_world(store: EventStore, *, seed: int = 7, interactions_per_day: int = 40) -> None:
    """Register the experiments and write predictions, selections and cases into ``store``."""
    rng = np.random.default_rng(seed)
    store.register_experiment("standing", "salt-standing", [("holdout", HOLDOUT_WEIGHT), ("v3", 1 - HOLDOUT_WEIGHT)])
    store.register_experiment("v2-challenger", "salt-v2", [("holdout", 0.1), ("v1", 0.45), ("v2", 0.45)])
    popularity = 1.0 / np.arange(1, len(TEMPLATES) + 1) ** 1.1
    popularity /= popularity.sum()
    accuracy = np.linspace(0.95, 0.35, len(TEMPLATES))  # popular templates are ranked well
    predictions, selections, cases = [], [], []
    for day in range(DAYS):
        for i in range(interactions_per_day):
            case_id, advocate = f"c{day:02d}-{i:03d}", f"a{rng.integers(0, 25):02d}"
            moment = START + timedelta(days=day, minutes=int(rng.integers(0, 24 * 60 - 30)))
            if 14 <= day < 21 and i % 2 == 0:  # the challenger test runs beside the standing holdout
                experiment = "v2-challenger"
                arm = str(rng.choice(["holdout", "v1", "v2"], p=[0.1, 0.45, 0.45]))
                version = "v2" if arm == "holdout" else arm
            else:
                experiment, version = "standing", _standing_version(day)
                arm = "holdout" if rng.random() < HOLDOUT_WEIGHT else version
            for k in range(int(rng.integers(1, 4))):
                t = int(rng.choice(len(TEMPLATES), p=popularity))
                hit = rng.random() < accuracy[t]
                others = [x for x in rng.permutation(len(TEMPLATES))[:6] if x != t][:4]
                top5 = ([t] + others) if hit else [*others, (t + 7) % len(TEMPLATES)]
                if arm == "holdout":
                    seconds = rng.normal(19.0, 4.0)
                else:
                    seconds = rng.normal(12.0 - SPEED_UP_S[version], 3.0) if hit else rng.normal(18.0, 4.0)
                stamp = moment + timedelta(seconds=40 * k)
                pid, sid = f"p-{case_id}-{k}", f"s-{case_id}-{k}"
                predictions.append(
                    {
                        "prediction_id": pid,
                        "case_id": case_id,
                        "message_id": f"m-{case_id}-{k}",
                        "advocate_id": advocate,
                        "experiment": experiment,
                        "arm": arm,
                        "model_version": version,
                        **{f"template_id_{r + 1}": TEMPLATES[x] for r, x in enumerate(top5)},
                        **{f"score_{r + 1}": round(0.5 / (r + 1), 4) for r in range(5)},
                        "latency_ms": float(rng.lognormal(3.6, 0.25)),
                        "created_at": stamp,
                    }
                )
                selections.append(
                    {
                        "selection_id": sid,
                        "case_id": case_id,
                        "message_id": f"m-{case_id}-{k}",
                        "advocate_id": advocate,
                        "experiment": experiment,
                        "arm": arm,
                        "model_version": version,
                        "template_id": TEMPLATES[t],
                        "selection_time_s": float(max(1.0, seconds)),
                        "created_at": stamp + timedelta(seconds=5),
                        "prediction_id": pid,
                    }
                )
            cases.append(
                {
                    "case_id": case_id,
                    "handle_time_s": float(rng.normal(600, 90)),
                    "closed_at": moment + timedelta(minutes=25),
                }
            )
    store.write("prediction", predictions)
    store.write("selection", selections)
    store.write("case", cases)
