"""Simulating cases block by block, vectorised with numpy; events come out as polars frames.

Pure: no I/O. :mod:`abkit.simulate.run` writes the frames through the event store.
Each block has its own generator seeded by ``(seed, block number)``: the same seed and
settings give the same events, and memory stays flat however large the scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from abkit.simulate.catalogue import sample_templates
from abkit.simulate.frames import SelectionDraws, case_frame, event_frames
from abkit.simulate.model import WorldModel
from abkit.simulate.predictions import draw_latency_ms, draw_rank, draw_scores, top5_lists
from abkit.simulate.structure import CaseShape, sample_case_shape
from abkit.simulate.timeline import arm_version_table, period_of_day
from abkit.simulate.timing import lognormal_unit_mean, other_work_s, selection_time_s
from abkit.simulate.transcripts import case_id_for

SECONDS_PER_DAY = 86_400
TARGET_SELECTIONS_PER_BLOCK = 100_000  # ~100k rows per write keeps memory flat
HANDOVER_MEAN_S = 600.0  # wait between the first advocate's last selection and the second's first
WRAP_UP_MEAN_S = 120.0  # from the last selection to closing the case


def advocate_id_for(index: int) -> str:
    return f"adv-{index:04d}"


@dataclass(frozen=True)
class PeriodEvents:
    """The predictions and selections of one block that fall in one experiment period."""

    period_index: int
    predictions: pl.DataFrame
    selections: pl.DataFrame


@dataclass(frozen=True)
class Block:
    """One block of simulated cases and their events.

    Attributes:
        number: block number (0, 1, ...), in time order.
        parts: events per experiment period, periods in order.
        cases: case events.
        case_ids: the block's case ids, in order.
        shape: interactions and selections of the cases (block-local indexes).
        templates: chosen template index per selection (for transcripts).
    """

    number: int
    parts: tuple[PeriodEvents, ...]
    cases: pl.DataFrame
    case_ids: tuple[str, ...]
    shape: CaseShape
    templates: np.ndarray

    @property
    def n_selections(self) -> int:
        return self.shape.n_selections


def case_arrivals(model: WorldModel, seed: int) -> np.ndarray:
    """Arrival of every case in seconds from the start, sorted.

    Days get cases in proportion to their weight (weekends lighter); within a day arrivals
    cluster around 13:00 (normal, sd 3.5 h) as support traffic does.
    """
    settings = model.settings
    rng = np.random.default_rng([seed, 0xA221])
    day = np.arange(settings.days)
    weekday = (settings.start.weekday() + day) % 7
    weight = np.where(weekday >= 5, settings.weekend_volume, 1.0)
    counts = rng.multinomial(settings.n_cases, weight / weight.sum())
    case_day = np.repeat(day, counts)
    hour = np.clip(rng.normal(13.0, 3.5, size=case_day.size), 0.0, 23.999)
    return np.sort(case_day * SECONDS_PER_DAY + hour * 3600.0)


def _first_of_runs(group: np.ndarray) -> np.ndarray:
    return np.r_[True, group[1:] != group[:-1]] if group.size else np.zeros(0, dtype=bool)


def _assign_arms(model: WorldModel, period: np.ndarray, advocates: np.ndarray, case_ids: list[str]) -> np.ndarray:
    """Position of each interaction's arm in its experiment, from the real assignment hash."""
    arm_position = np.empty(period.size, dtype=np.int64)
    for index in np.unique(period):
        rows = np.flatnonzero(period == index)
        experiment = model.periods[index].experiment
        arms = experiment.assign_many([advocate_id_for(a) for a in advocates[rows]], [case_ids[r] for r in rows])
        position = {name: i for i, name in enumerate(experiment.arm_names)}
        arm_position[rows] = [position[arm] for arm in arms]
    return arm_position


def simulate_block(model: WorldModel, seed: int, number: int, first_case: int, arrivals: np.ndarray) -> Block:
    """Simulate the cases arriving at ``arrivals`` (seconds), numbered from ``first_case``."""
    settings = model.settings
    rng = np.random.default_rng([seed, 0xB10C, number])
    n_cases = arrivals.size
    shape = sample_case_shape(
        rng,
        n_cases,
        transfer_probability=settings.transfer_probability,
        extra_selections_mean=settings.extra_selections_mean,
    )
    sel_case, sel_interaction = shape.selection_case, shape.selection_interaction
    n_sel, n_int = shape.n_selections, shape.n_interactions
    case_ids = [case_id_for(seed, first_case + i) for i in range(n_cases)]

    # When each suggestion is requested: cumulative gaps within the case, plus a handover wait
    # before the first selection of a transferred interaction.
    first_in_interaction = _first_of_runs(sel_interaction)
    gap = rng.exponential(settings.gap_between_selections_s, size=n_sel)
    transferred = shape.interaction_number[sel_interaction] > 0
    gap += np.where(first_in_interaction & transferred, rng.exponential(HANDOVER_MEAN_S, size=n_sel), 0.0)
    elapsed = np.cumsum(gap)
    case_base = (elapsed - gap)[_first_of_runs(sel_case)]
    requested_s = arrivals[sel_case] + elapsed - case_base[sel_case]
    day = np.minimum((requested_s // SECONDS_PER_DAY).astype(np.int64), settings.days - 1)

    # Units: who handles each interaction, which experiment and arm it falls in.
    advocates = rng.integers(0, settings.n_advocates, size=n_int)
    second = shape.interaction_number > 0  # a transfer goes to a different advocate
    advocates[second] = (
        advocates[np.flatnonzero(second) - 1] + 1 + rng.integers(0, settings.n_advocates - 1, size=int(second.sum()))
    ) % settings.n_advocates
    period = period_of_day(model.periods, day[first_in_interaction])
    interaction_case_ids = [case_ids[i] for i in shape.interaction_case]
    arm_position = _assign_arms(model, period, advocates, interaction_case_ids)
    version = arm_version_table(model.periods)[period, arm_position]  # the version that scores the interaction
    shown = arm_position > 0  # the holdout (first arm) is scored but sees nothing

    # What the advocate picks, and what the model suggested.
    templates = sample_templates(rng, model.weights, n_sel, allowed=model.live, day=day)
    sel_version = version[sel_interaction]
    rank = draw_rank(rng, model.known_probability[sel_version, templates], settings.rank_decay)
    lists = top5_lists(rng, model.weights, templates, rank)
    scores = draw_scores(rng, rank)
    latency = draw_latency_ms(rng, n_sel, settings.latency_median_ms, settings.latency_sd)

    # Selection time (abkit.simulate.timing): (baseline - saving) times mean-one lognormal
    # effects of the template, the advocate, the interaction (clustering) and the selection.
    extra = np.array([v.extra_saving_s for v in settings.versions])
    sel_shown = shown[sel_interaction]
    effect = (
        model.template_factor[templates]
        * model.advocate_factor[advocates[sel_interaction]]
        * lognormal_unit_mean(rng, settings.interaction_sd, n_int)[sel_interaction]
        * lognormal_unit_mean(rng, settings.selection_sd, n_sel)
    )
    selection_time = selection_time_s(settings, rank, sel_shown, extra[sel_version], effect)
    selected_s = requested_s + selection_time

    # Cases: handle time is the selections plus all the other work on the case.
    other_work = other_work_s(rng, settings, n_cases)
    handle_time = np.round(np.bincount(sel_case, weights=selection_time, minlength=n_cases) + other_work, 3)
    last_in_case = np.r_[sel_case[1:] != sel_case[:-1], True]
    closed_s = selected_s[last_in_case] + rng.exponential(WRAP_UP_MEAN_S, size=n_cases)

    draws = SelectionDraws(
        case_number=sel_case + first_case,
        number=shape.selection_number,
        advocate=advocates[sel_interaction],
        period=period[sel_interaction],
        version=sel_version,
        shown=sel_shown,
        template=templates,
        top5=lists,
        scores=scores,
        latency_ms=latency,
        selection_time_s=selection_time,
        requested_s=requested_s,
        selected_s=selected_s,
    )
    parts = tuple(
        PeriodEvents(index, predictions, selections)
        for index, predictions, selections in event_frames(model, seed, draws)
    )
    cases = case_frame(model, case_ids, handle_time, closed_s)
    return Block(number, parts, cases, tuple(case_ids), shape, templates)


def iter_blocks(model: WorldModel, seed: int, *, cases_per_block: int | None = None) -> Iterator[Block]:
    """The world of ``seed``, block by block in time order."""
    arrivals = case_arrivals(model, seed)
    if cases_per_block is None:
        cases_per_block = max(1, round(TARGET_SELECTIONS_PER_BLOCK / model.settings.mean_selections_per_case))
    for number, first in enumerate(range(0, arrivals.size, cases_per_block)):
        yield simulate_block(model, seed, number, first, arrivals[first : first + cases_per_block])
