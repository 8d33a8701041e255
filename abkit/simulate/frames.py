"""From the simulator's per-selection arrays to event frames with the store's column names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from abkit.events import columns as c
from abkit.simulate.model import WorldModel

MIN_SCORE = 1e-6  # scores are logged with 6 decimals; a tiny one must not round to 0


@dataclass(frozen=True)
class SelectionDraws:
    """Everything drawn for the selections of one block, one entry (or row) per selection.

    Attributes:
        case_number: the case's number in the world (its id is ``s<seed>-c<number>``).
        number: position of the selection in its case (``-a<j>``, ``-p<j>``, ``-s<j>`` ids).
        advocate: advocate number.
        period: index of the experiment period the interaction fell in.
        version: index of the version that scored the prediction.
        shown: whether suggestions were shown (False in the holdout).
        template: chosen template index.
        top5: ``(n, 5)`` suggested template indexes.
        scores: ``(n, 5)`` their scores.
        latency_ms: serving latency of the prediction.
        selection_time_s: seconds the selection took.
        requested_s: when the prediction was made, seconds from the world's start.
        selected_s: when the template was chosen, seconds from the world's start.
    """

    case_number: np.ndarray
    number: np.ndarray
    advocate: np.ndarray
    period: np.ndarray
    version: np.ndarray
    shown: np.ndarray
    template: np.ndarray
    top5: np.ndarray
    scores: np.ndarray
    latency_ms: np.ndarray
    selection_time_s: np.ndarray
    requested_s: np.ndarray
    selected_s: np.ndarray


def timestamps(start: datetime, seconds: np.ndarray) -> pl.Series:
    """Naive UTC timestamps (microseconds) ``seconds`` after ``start``."""
    micros = np.round(seconds * 1e6).astype(np.int64).astype("timedelta64[us]")
    return pl.Series(np.datetime64(start, "us") + micros)


def _event_id(seed: int, suffix: str) -> pl.Expr:
    # s<seed>-c<8-digit case>[-<suffix><j>]: the format of transcripts.case_id_for
    case = pl.col("__case__").cast(pl.String).str.zfill(8)
    if not suffix:
        return pl.format("s{}-c{}", pl.lit(seed), case)
    return pl.format(f"s{{}}-c{{}}-{suffix}{{}}", pl.lit(seed), case, pl.col("__number__"))


def event_frames(
    model: WorldModel, seed: int, draws: SelectionDraws
) -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
    """``(period index, predictions, selections)`` per experiment period, periods in order."""
    settings = model.settings
    template_ids = pl.Series(model.catalogue.template_ids)
    version_names = pl.Series([v.name for v in settings.versions])
    experiment_names = pl.Series([p.experiment.name for p in model.periods])
    common = pl.DataFrame(
        {
            "__period__": draws.period,
            "__case__": draws.case_number,
            "__number__": draws.number,
            "__shown__": draws.shown,
            c.ADVOCATE_ID: draws.advocate,
            c.MODEL_VERSION: version_names.gather(draws.version),
            c.EXPERIMENT: experiment_names.gather(draws.period),
        }
    ).with_columns(
        _event_id(seed, "").alias(c.CASE_ID),
        _event_id(seed, "a").alias(c.MESSAGE_ID),
        _event_id(seed, "p").alias(c.PREDICTION_ID),
        pl.format("adv-{}", pl.col(c.ADVOCATE_ID).cast(pl.String).str.zfill(4)).alias(c.ADVOCATE_ID),
        # arms are named after the version shown; the holdout sees nothing
        pl.when(pl.col("__shown__")).then(pl.col(c.MODEL_VERSION)).otherwise(pl.lit(c.HOLDOUT_ARM)).alias(c.ARM),
    )
    scores = np.maximum(np.round(draws.scores, 6), MIN_SCORE)
    predictions = common.with_columns(
        *(template_ids.gather(draws.top5[:, k]).alias(name) for k, name in enumerate(c.TEMPLATE_ID_COLUMNS)),
        *(pl.Series(name, scores[:, k]) for k, name in enumerate(c.SCORE_COLUMNS)),
        pl.Series(c.LATENCY_MS, np.round(draws.latency_ms, 2)),
        timestamps(settings.start, draws.requested_s).alias(c.CREATED_AT),
    )
    selections = common.with_columns(
        _event_id(seed, "s").alias(c.SELECTION_ID),
        template_ids.gather(draws.template).alias(c.TEMPLATE_ID),
        pl.Series(c.SELECTION_TIME_S, draws.selection_time_s),
        timestamps(settings.start, draws.selected_s).alias(c.CREATED_AT),
    )
    for index in np.unique(draws.period):
        in_period = pl.col("__period__") == index
        yield (
            int(index),
            predictions.filter(in_period).select(c.PREDICTION_COLUMNS),
            selections.filter(in_period).select(c.SELECTION_COLUMNS),
        )


def case_frame(model: WorldModel, case_ids: list[str], handle_time_s: np.ndarray, closed_s: np.ndarray) -> pl.DataFrame:
    """Case events."""
    return pl.DataFrame(
        {
            c.CASE_ID: case_ids,
            c.HANDLE_TIME_S: handle_time_s,
            c.CLOSED_AT: timestamps(model.settings.start, closed_s),
        }
    )
