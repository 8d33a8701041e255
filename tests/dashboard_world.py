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
    published = version.get("delta_ci95_s") or [None, None]
    return {
        "n_treatment": version["treatment"]["n"],
        "n_holdout": version["holdout"]["n"],
        "mean_with_s": version["treatment"]["mean_s"],
        "mean_without_s": version["holdout"]["mean_s"],
        # Interaction-level (decides; phases combined) and selection-level (published) figures.
        # A schema-1 report has no interaction-level delta: the selection-level one stands in.
        "delta_s": clustered.get("delta_s", version["delta_s"]),
        "delta_pct": clustered.get("delta_pct", version["delta_pct"]),
        "selection_level_delta_s": version["delta_s"],
        "delta_ci95_low_s": interval[0],
        "delta_ci95_high_s": interval[1],
        "clustered_p": clustered.get("p"),
        "selection_level_ci95_low_s": published[0],
        "selection_level_ci95_high_s": published[1],
        "selection_level_p": version["welch"]["p"],
        "top1": version["holdout_accuracy"]["top1"],
        "top5": version["holdout_accuracy"]["top5"],
    }


STANDING = ExperimentConfig("standing", "standing", (("holdout", 0.02), ("v1", 0.98)))
# A challenger test ramped as docs/walkthrough.md's: 10% to v2 first, then half and half.
RAMP = (
    ExperimentConfig("v2-challenger", "v2-challenger", (("holdout", 0.02), ("v2", 0.10), ("v1", 0.88))),
    ExperimentConfig("v2-challenger", "v2-challenger", (("holdout", 0.02), ("v1", 0.49), ("v2", 0.49))),
)
MEAN_S = {"holdout": 19.0, "v1": 13.0, "v2": 12.5}  # about the published figures (DESIGN.md)


def write_short_world(
    path: Path,
    span: timedelta,
    *,
    interactions: int = 1000,
    start: datetime = datetime(2026, 11, 2, 9, 0),
    seed: int = 5,
) -> None:
    """A walkthrough-scale world: ``interactions`` advocate-case interactions, all within ``span``.

    The standing 2% holdout with v1 throughout; from half-way, half the interactions go to a
    challenger test of v2 that ramps (phase 1: 10% to v2, phase 2 from 70% of the span: 49/49).
    Arms are assigned by abkit's hash with the definition in force; 1 + Poisson(1.6) selections
    per interaction, lognormal times about MEAN_S; each case closed after its last selection.
    """
    rng = np.random.default_rng(seed)
    store = EventStore.open(str(path))
    store.register_model_version("v1", released_at=start)
    store.register_model_version("v2", released_at=start + span * 0.5)
    store.register_experiment(STANDING.name, STANDING.salt, STANDING.arms, at=start)
    for config, share in zip(RAMP, (0.5, 0.7), strict=True):
        store.register_experiment(config.name, config.salt, config.arms, at=start + span * share)
    selections, cases = [], []
    for index in range(interactions):
        case_id, advocate_id = f"case-{index}", f"adv-{index % 40}"
        share = float(rng.uniform(0.0, 0.98))
        config = STANDING if share < 0.5 or index % 2 else RAMP[share >= 0.7]
        arm, moment = config.assign(advocate_id, case_id), start + span * share
        for step in range(1 + int(rng.poisson(1.6))):
            selections.append(
                {
                    "selection_id": f"sel-{index}-{step}",
                    "case_id": case_id,
                    "message_id": f"msg-{index}-{step}",
                    "advocate_id": advocate_id,
                    "experiment": config.name,
                    "arm": arm,
                    "model_version": "v1" if arm == "holdout" else arm,
                    "template_id": f"T{int(rng.zipf(1.6)) % 40:04d}",
                    "selection_time_s": float(rng.lognormal(np.log(MEAN_S[arm]), 0.35)),
                    "created_at": moment + timedelta(seconds=step),
                }
            )
        cases.append({"case_id": case_id, "handle_time_s": 600.0, "closed_at": moment + timedelta(seconds=30)})
    store.write("selection", selections)
    store.write("case", cases)
    store.engine.dispose()
