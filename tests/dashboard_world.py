"""Simulated databases for the dashboard tests: abkit.simulate, written through the event store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from abkit.assignment.config import ExperimentConfig
from abkit.events import EventStore
from abkit.simulate.run import simulate_into
from abkit.simulate.settings import WorldSettings


def simulate(path: Path, n_selections: int, seed: int = 11) -> None:
    """Write a simulated world of about ``n_selections`` selections into the SQLite file ``path``."""
    store = EventStore.open(str(path))
    simulate_into(store, replace(WorldSettings(), n_selections=n_selections), seed=seed, progress=False)
    store.engine.dispose()


def overview_expected(version: dict[str, Any]) -> dict[str, float | None]:
    """The Overview table's columns and the report figure each one shows (None: an empty cell)."""
    clustered = version.get("clustered") or {}
    interval = clustered.get("delta_ci95_s") or [None, None]
    return {
        "n_treatment": version["treatment"]["n"],
        "n_holdout": version["holdout"]["n"],
        "mean_with_s": version["treatment"]["mean_s"],
        "mean_without_s": version["holdout"]["mean_s"],
        "delta_s": version["delta_s"],
        "delta_pct": version["delta_pct"],
        # Interaction-level (decides) and selection-level (published) intervals and p-values.
        "delta_ci95_low_s": interval[0],
        "delta_ci95_high_s": interval[1],
        "clustered_p": clustered.get("p"),
        "selection_level_ci95_low_s": version["delta_ci95_s"][0],
        "selection_level_ci95_high_s": version["delta_ci95_s"][1],
        "selection_level_p": version["welch"]["p"],
        "top1": version["holdout_accuracy"]["top1"],
        "top5": version["holdout_accuracy"]["top5"],
    }


def write_short_world(
    path: Path,
    span: timedelta,
    *,
    interactions: int = 1000,
    start: datetime = datetime(2026, 12, 3, 9, 0),
    seed: int = 5,
) -> None:
    """A walkthrough-scale world: ``interactions`` advocate-case interactions, all within ``span``.

    The standing 2% holdout of the walkthrough, assigned by abkit's hash; 1 + Poisson(1.6)
    selections per interaction, about 19 s without suggestions and 13 s with them (lognormal,
    as the simulator's timing), each case closed after its last selection.
    """
    arms = (("holdout", 0.02), ("v1", 0.98))
    config = ExperimentConfig("standing", "standing", arms)
    rng = np.random.default_rng(seed)
    selections, cases = [], []
    for index in range(interactions):
        case_id, advocate_id = f"case-{index}", f"adv-{index % 40}"
        arm = config.assign(advocate_id, case_id)
        moment = start + span * float(rng.uniform(0.0, 0.98))
        mean_s = 19.0 if arm == "holdout" else 13.0
        for step in range(1 + int(rng.poisson(1.6))):
            selections.append(
                {
                    "selection_id": f"sel-{index}-{step}",
                    "case_id": case_id,
                    "message_id": f"msg-{index}-{step}",
                    "advocate_id": advocate_id,
                    "experiment": "standing",
                    "arm": arm,
                    "model_version": "v1",
                    "template_id": f"T{int(rng.zipf(1.6)) % 40:04d}",
                    "selection_time_s": float(rng.lognormal(np.log(mean_s), 0.35)),
                    "created_at": moment + timedelta(seconds=step),
                }
            )
        cases.append({"case_id": case_id, "handle_time_s": 600.0, "closed_at": moment + timedelta(seconds=30)})
    store = EventStore.open(str(path))
    store.register_experiment("standing", "standing", arms)
    store.register_model_version("v1", released_at=start)
    store.write("selection", selections)
    store.write("case", cases)
    store.engine.dispose()
