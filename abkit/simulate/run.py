"""Writing a simulated world through the event store (the same API as production)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from abkit.events.phases import normalise_arms
from abkit.events.store import EventStore
from abkit.progress import progress_bar
from abkit.simulate.model import WorldModel, build_world_model
from abkit.simulate.settings import WorldSettings
from abkit.simulate.timeline import experiment_phases, release_time, training_cutoff_day
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
    """Record the world's model versions, and its experiments' phases at their simulated times.

    The standing experiment gets a phase at each release (re-pointed at the new version, as
    ops staff do with ``abkit experiments apply``) and each challenger test one phase, or two
    with a ramp. Phases already stored exactly so (the same world simulated again, or another
    seed of it) are left as they are.

    Raises:
        PhaseError: the store holds later phases of these experiments from another timeline.
    """
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
    stored = {(p.experiment, p.salt, p.arms, p.started_at) for p in store.experiment_phases()}
    for started_at, experiment in experiment_phases(settings, model.periods):
        if (experiment.name, experiment.salt, normalise_arms(experiment.arms), started_at) not in stored:
            store.apply_experiment(experiment, at=started_at)


def simulate_into(
    store: EventStore,
    settings: WorldSettings,
    seed: int,
    *,
    transcripts_path: str | Path | None = None,
    progress: bool = True,
) -> SimulationResult:
    """Simulate the world of ``seed`` and write its events to ``store``.

    The experiments' phases are recorded first (:func:`register_world`), each from the
    simulated time it took effect; every interaction is assigned with the definition in force
    on the day of its first suggestion request. Afterwards the ``experiments`` table holds each
    experiment's last definition (the standing one names the last version).

    Args:
        store: the event store to write to.
        settings: the world's parameters.
        seed: random seed; the same seed and settings give identical events.
        transcripts_path: also write the cases' transcripts there as JSON Lines.
        progress: show a progress bar (selections written) on standard error, if it is a terminal.
    """
    started = time.perf_counter()
    model = build_world_model(settings, seed)
    register_world(store, model)
    totals = {"cases": 0, "interactions": 0, "selections": 0, "predictions": 0}
    transcript_count = 0
    with ExitStack() as stack:
        out = stack.enter_context(Path(transcripts_path).open("w", encoding="utf-8")) if transcripts_path else None
        bar = stack.enter_context(
            progress_bar(enabled=progress, total=settings.n_selections, unit="sel", desc="simulate", leave=False)
        )
        for block in iter_blocks(model, seed):
            for part in block.parts:
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
