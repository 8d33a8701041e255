"""Simulated databases for the dashboard tests: abkit.simulate, written through the event store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from abkit.events import EventStore
from abkit.simulate.run import simulate_into
from abkit.simulate.settings import WorldSettings


def simulate(path: Path, n_selections: int, seed: int = 11) -> None:
    """Write a simulated world of about ``n_selections`` selections into the SQLite file ``path``."""
    store = EventStore.open(str(path))
    simulate_into(store, replace(WorldSettings(), n_selections=n_selections), seed=seed, progress=False)
    store.engine.dispose()


def overview_expected(version: dict[str, Any]) -> dict[str, float]:
    """The Overview table's columns and the report figure each one shows."""
    return {
        "n_treatment": version["treatment"]["n"],
        "n_holdout": version["holdout"]["n"],
        "mean_with_s": version["treatment"]["mean_s"],
        "mean_without_s": version["holdout"]["mean_s"],
        "delta_s": version["delta_s"],
        "delta_ci95_low_s": version["delta_ci95_s"][0],
        "delta_ci95_high_s": version["delta_ci95_s"][1],
        "welch_p": version["welch"]["p"],
        "top1": version["holdout_accuracy"]["top1"],
        "top5": version["holdout_accuracy"]["top5"],
    }
