"""Writing a simulated world through the event store (the same API as production)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from abkit.events.store import EventStore
from abkit.simulate.model import WorldModel, build_world_model
from abkit.simulate.settings import WorldSettings
from abkit.simulate.timeline import release_time, training_cutoff_day
from abkit.simulate.transcripts import jsonl_line, render_cases
from abkit.simulate.world import Block, iter_blocks


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation wrote: new rows (events already stored are not counted again)."""

    seed: int
    cases: int
    interactions: int
    selections: int
    predictions: int
    transcripts: int | None  # cases written to the transcripts file, None when not asked for
    seconds: float


def register_world(store: EventStore, model: WorldModel) -> None:
    """Record the world's model versions and challenger experiments."""
    settings = model.settings
    for index, version in enumerate(settings.versions):
        store.register_model_version(
            version.name,
            base_model=version.base_model,
            released_at=release_time(settings, index),
            details={
                "simulated": True,
                "top5_accuracy_target": version.top5_accuracy,
                "extra_saving_s": version.extra_saving_s,
                "training_cutoff_day": training_cutoff_day(settings, index),
            },
        )
    for period in model.periods:
        if period.experiment.name != "standing":
            store.register_experiment(period.experiment.name, period.experiment.salt, period.experiment.arms)


def simulate_into(
    store: EventStore,
    settings: WorldSettings,
    seed: int,
    *,
    transcripts_path: str | Path | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Simulate the world of ``seed`` and write its events to ``store``.

    The standing experiment is (re-)registered with the current version's arms as the
    timeline moves, as ops staff do at a release, so every event is validated against the
    experiment definition in force when it was logged; at the end it names the last version.

    Args:
        store: the event store to write to.
        settings: the world's parameters.
        seed: random seed; the same seed and settings give identical events.
        transcripts_path: also write the cases' transcripts there as JSON Lines.
        progress: show a progress bar (selections written) on standard error.
    """
    started = time.perf_counter()
    model = build_world_model(settings, seed)
    register_world(store, model)
    registered_standing: tuple | None = None
    totals = {"cases": 0, "interactions": 0, "selections": 0, "predictions": 0}
    transcript_count = 0
    with ExitStack() as stack:
        out = stack.enter_context(Path(transcripts_path).open("w", encoding="utf-8")) if transcripts_path else None
        bar = stack.enter_context(
            tqdm(total=settings.n_selections, unit="sel", desc="simulate", disable=not progress, leave=False)
        )
        for block in iter_blocks(model, seed):
            for part in block.parts:
                experiment = model.periods[part.period_index].experiment
                if experiment.name == "standing" and experiment.arms != registered_standing:
                    store.register_experiment(experiment.name, experiment.salt, experiment.arms)
                    registered_standing = experiment.arms
                totals["predictions"] += store.write("prediction", part.predictions).accepted
                totals["selections"] += store.write("selection", part.selections).accepted
            totals["cases"] += store.write("case", block.cases).accepted
            totals["interactions"] += block.shape.n_interactions
            if out is not None:
                transcript_count += _write_transcripts(out, block, model, seed)
            bar.update(block.n_selections)
    return SimulationResult(
        seed=seed,
        transcripts=transcript_count if transcripts_path else None,
        seconds=time.perf_counter() - started,
        **totals,
    )


def _write_transcripts(out: TextIO, block: Block, model: WorldModel, seed: int) -> int:
    shape = block.shape
    count = 0
    for transcript in render_cases(
        block.case_ids,
        shape.selection_case,
        shape.selection_interaction,
        block.templates,
        model.catalogue,
        model.settings.text,
        seed,
    ):
        out.write(jsonl_line(transcript))
        count += 1
    return count
