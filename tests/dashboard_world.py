"""Simulated databases for the dashboard tests: abkit.simulate, written through the event store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from abkit.events import EventStore
from abkit.simulate.run import simulate_into
from abkit.simulate.settings import WorldSettings


def simulate(path: Path, n_selections: int, seed: int = 11) -> None:
    """Write a simulated world of about ``n_selections`` selections into the SQLite file ``path``."""
    store = EventStore.open(str(path))
    simulate_into(store, replace(WorldSettings(), n_selections=n_selections), seed=seed, progress=False)
    store.engine.dispose()
