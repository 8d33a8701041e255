"""Grouped sufficient statistics of exported event files (Parquet or CSV), with polars lazy scans.

A directory holds one file, folder or set of files per table, named after the table:
``selections.parquet`` (or ``selections.csv``, ``selections/*.parquet``, ``selections-*.parquet``),
``predictions.*``, ``cases.*`` and optionally ``experiments.*`` (name, arms_json) and
``model_versions.*`` (model_version, released_at). Columns are the event-store columns.
The scans stream: polars reads the files and keeps only the grouped results in memory.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import polars as pl

from abkit.events import columns as c
from abkit.report.groups import (
    PERCENTILES,
    ArmGroup,
    CaseGroup,
    DayGroup,
    HitGroup,
    LatencyGroup,
    PredictionDay,
    TemplateGroup,
    Window,
)

_STRING: pl.DataType = pl.String()
_FLOAT: pl.DataType = pl.Float64()
_TIME: pl.DataType = pl.Datetime("us")
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "selections": {
        **{name: _STRING for name in c.SELECTION_COLUMNS},
        c.SELECTION_TIME_S: _FLOAT,
        c.CREATED_AT: _TIME,
    },
    "predictions": {
        **{name: _STRING for name in c.PREDICTION_COLUMNS},
        **{name: _FLOAT for name in c.SCORE_COLUMNS},
        c.LATENCY_MS: _FLOAT,
        c.CREATED_AT: _TIME,
    },
    "cases": {c.CASE_ID: _STRING, c.HANDLE_TIME_S: _FLOAT, c.CLOSED_AT: _TIME},
    "experiments": {"name": _STRING, "arms_json": _STRING},
    "model_versions": {c.MODEL_VERSION: _STRING, "released_at": _TIME},
}
_PATTERNS = ("{t}.parquet", "{t}.csv", "{t}/*.parquet", "{t}/*.csv", "{t}-*.parquet", "{t}-*.csv")


def find_files(directory: Path, table: str) -> list[Path]:
    """The files of one table in an export directory (first naming pattern that matches)."""
    for pattern in _PATTERNS:
        found = sorted(directory.glob(pattern.format(t=table)))
        if found:
            return found
    return []


def _scan(directory: Path, table: str) -> pl.LazyFrame:
    """Lazy frame of one table, columns cast to the store's types; an empty frame when absent."""
    schema = SCHEMAS[table]
    files = find_files(directory, table)
    if not files:
        return pl.LazyFrame(schema=schema)
    if files[0].suffix == ".parquet":
        frame = pl.scan_parquet(files)
    else:
        frame = pl.scan_csv(files, schema_overrides={n: t for n, t in schema.items() if t != _TIME})
    present = frame.collect_schema()
    missing = [name for name in schema if name not in present]
    if missing:
        raise ValueError(f"{files[0]}: missing columns {missing} for table {table}")
    casts = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if dtype == _TIME:
            current = present[name]
            if isinstance(current, pl.Datetime) and current.time_zone is not None:
                # Stored timestamps are naive UTC; aware exports are converted, not relabelled.
                column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            elif current == pl.String:
                column = column.str.to_datetime(time_unit="us")
        casts.append(column.cast(dtype))
    return frame.select(casts)


def _window(frame: pl.LazyFrame, window: Window) -> pl.LazyFrame:
    terms = []
    if window.experiment is not None:
        terms.append(pl.col(c.EXPERIMENT) == window.experiment)
    if window.since is not None:
        terms.append(pl.col(c.CREATED_AT) >= window.since)
    if window.until is not None:
        terms.append(pl.col(c.CREATED_AT) < window.until)
    return frame.filter(*terms) if terms else frame


def _arm_kind() -> pl.Expr:
    return (
        pl.when(pl.col(c.ARM) == c.HOLDOUT_ARM).then(pl.lit("holdout")).otherwise(pl.lit("treatment")).alias("arm_kind")
    )


def _shifted_sums(shift: float) -> list[pl.Expr]:
    deviation = pl.col(c.SELECTION_TIME_S) - shift
    return [pl.len().alias("n"), deviation.sum().alias("total"), (deviation * deviation).sum().alias("total_sq")]


def _hit(ranks: range) -> pl.Expr:
    matched = pl.any_horizontal(*(pl.col(c.TEMPLATE_ID) == pl.col(f"template_id_{r}") for r in ranks))
    return matched.fill_null(False).cast(pl.Int64).sum()


class PolarsSource:
    """:class:`~abkit.report.groups.StatsSource` over a directory of exported event files.

    Raises:
        FileNotFoundError: the directory does not exist or holds no selections, predictions or cases.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FileNotFoundError(f"events: no directory at {self.directory}")
        if not any(find_files(self.directory, t) for t in ("selections", "predictions", "cases")):
            raise FileNotFoundError(
                f"events: {self.directory} holds no selections.parquet/.csv, predictions.* or cases.* files"
            )
        self.selections = _scan(self.directory, "selections")
        self.predictions = _scan(self.directory, "predictions")
        self.cases = _scan(self.directory, "cases")
        self._cached: tuple[tuple[Window, float], dict[str, pl.DataFrame]] | None = None
        self._shifts: dict[Window, float] = {}

    def shift(self, window: Window) -> float:
        if window not in self._shifts:
            first = _window(self.selections, window).select(c.SELECTION_TIME_S).head(1).collect()
            self._shifts[window] = float(first.item()) if first.height else 0.0
        return self._shifts[window]

    # Every family is planned lazily and collected together (pl.collect_all), so polars runs
    # them in parallel and can share the file scans; the batch is kept for the last window.

    def _batch(self, window: Window, shift: float | None = None) -> dict[str, pl.DataFrame]:
        shift = self.shift(window) if shift is None else shift
        if self._cached is None or self._cached[0] != (window, shift):
            per_interaction = self._interaction_plan(window, shift)
            plans = {
                "arms": self._arm_plan(per_interaction),
                "hits": self._hit_plan(window),
                "templates": self._template_plan(window, shift),
                "days": self._day_plan(window, shift),
                "prediction_days": self._prediction_day_plan(window),
                "latency": self._latency_plan(window),
                "cases": self._case_plan(per_interaction),
                "case_count": self._case_count_plan(per_interaction),
            }
            self._cached = ((window, shift), dict(zip(plans, pl.collect_all(list(plans.values())), strict=True)))
        return self._cached[1]

    def arm_groups(self, window: Window, shift: float) -> list[ArmGroup]:
        return [ArmGroup(**row) for row in self._batch(window, shift)["arms"].iter_rows(named=True)]

    def hit_groups(self, window: Window) -> list[HitGroup]:
        return [HitGroup(**row) for row in self._batch(window)["hits"].iter_rows(named=True)]

    def template_groups(self, window: Window, shift: float) -> list[TemplateGroup]:
        return [TemplateGroup(**row) for row in self._batch(window, shift)["templates"].iter_rows(named=True)]

    def day_groups(self, window: Window, shift: float) -> list[DayGroup]:
        return [DayGroup(**row) for row in self._batch(window, shift)["days"].iter_rows(named=True)]

    def prediction_days(self, window: Window) -> list[PredictionDay]:
        return [PredictionDay(**row) for row in self._batch(window)["prediction_days"].iter_rows(named=True)]

    def latency_groups(self, window: Window) -> list[LatencyGroup]:
        return [LatencyGroup(**row) for row in self._batch(window)["latency"].iter_rows(named=True)]

    def case_groups(self, window: Window) -> list[CaseGroup]:
        return [CaseGroup(**row) for row in self._batch(window)["cases"].iter_rows(named=True)]

    def case_count(self, window: Window) -> int:
        return int(self._batch(window)["case_count"].item())

    def arm_groups_plan(self, window: Window, shift: float) -> pl.LazyFrame:
        """The arm groups alone, as a lazy plan (benchmarks time it beside the whole report)."""
        return self._arm_plan(self._interaction_plan(window, shift))

    def _interaction_plan(self, window: Window, shift: float) -> pl.LazyFrame:
        """Selections reduced to one row per interaction; the arm, case and case-count plans share it.

        The three plans start from this same lazy frame, so ``collect_all``'s common-subplan
        elimination scans and groups the selections once for all three.
        """
        deviation = pl.col(c.SELECTION_TIME_S) - shift
        return (
            _window(self.selections, window)
            .group_by(c.EXPERIMENT, c.MODEL_VERSION, c.ARM, c.ADVOCATE_ID, c.CASE_ID)
            .agg(
                pl.len().alias("n_i"),
                deviation.sum().alias("y_i"),
                (deviation * deviation).sum().alias("q_i"),
                pl.col(c.CREATED_AT).min().alias("first_seen"),
                pl.col(c.CREATED_AT).max().alias("last_seen"),
            )
        )

    @staticmethod
    def _arm_plan(per_interaction: pl.LazyFrame) -> pl.LazyFrame:
        n_i, y_i = pl.col("n_i").cast(pl.Float64), pl.col("y_i")
        return per_interaction.group_by(c.EXPERIMENT, c.MODEL_VERSION, c.ARM).agg(
            pl.col("n_i").sum().alias("n"),
            y_i.sum().alias("total"),
            pl.col("q_i").sum().alias("total_sq"),
            pl.len().alias("k"),
            (n_i * n_i).sum().alias("sum_n2"),
            (y_i * y_i).sum().alias("sum_y2"),
            (n_i * y_i).sum().alias("sum_ny"),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
        )

    def _hit_plan(self, window: Window) -> pl.LazyFrame:
        holdout = _window(self.selections, window).filter(pl.col(c.ARM) == c.HOLDOUT_ARM)
        shown = self.predictions.select(c.PREDICTION_ID, *c.TEMPLATE_ID_COLUMNS)
        return (
            holdout.select(c.MODEL_VERSION, c.TEMPLATE_ID, c.PREDICTION_ID)
            .join(shown, on=c.PREDICTION_ID, how="inner")
            .group_by(c.MODEL_VERSION, c.TEMPLATE_ID)
            .agg(
                pl.len().alias("n"),
                _hit(range(1, 2)).alias("top1"),
                _hit(range(1, 4)).alias("top3"),
                _hit(range(1, 6)).alias("top5"),
            )
        )

    def _template_plan(self, window: Window, shift: float) -> pl.LazyFrame:
        return _window(self.selections, window).group_by(pl.col(c.TEMPLATE_ID), _arm_kind()).agg(_shifted_sums(shift))

    def _day_plan(self, window: Window, shift: float) -> pl.LazyFrame:
        day = pl.col(c.CREATED_AT).dt.date().alias("day")
        return _window(self.selections, window).group_by(day, c.EXPERIMENT, c.ARM).agg(_shifted_sums(shift))

    def _prediction_day_plan(self, window: Window) -> pl.LazyFrame:
        day = pl.col(c.CREATED_AT).dt.date().alias("day")
        return _window(self.predictions, window).group_by(day, c.EXPERIMENT, c.ARM).agg(pl.len().alias("n"))

    def _latency_plan(self, window: Window) -> pl.LazyFrame:
        latency = pl.col(c.LATENCY_MS)
        percentiles = (
            latency.quantile(q, interpolation="linear").alias(name)
            for name, q in zip(("p50", "p90", "p99"), PERCENTILES, strict=True)
        )
        return (
            _window(self.predictions, window)
            .group_by(c.MODEL_VERSION)
            .agg(pl.len().alias("n"), *percentiles, latency.max().alias("max"))
        )

    def _case_plan(self, per_interaction: pl.LazyFrame) -> pl.LazyFrame:
        per_case = (
            per_interaction.filter(pl.col(c.ARM) != c.HOLDOUT_ARM)
            .group_by(c.MODEL_VERSION, c.CASE_ID)
            .agg(pl.col("n_i").sum().alias("selections"))
        )
        return (
            per_case.join(self.cases.select(c.CASE_ID, c.HANDLE_TIME_S), on=c.CASE_ID, how="inner")
            .group_by(c.MODEL_VERSION)
            .agg(
                pl.len().alias("cases"),
                pl.col("selections").sum(),
                pl.col(c.HANDLE_TIME_S).sum().alias("handle_time_sum"),
            )
        )

    def _case_count_plan(self, per_interaction: pl.LazyFrame) -> pl.LazyFrame:
        return self.cases.join(per_interaction.select(c.CASE_ID), on=c.CASE_ID, how="semi").select(pl.len())

    def experiment_weights(self) -> dict[str, dict[str, float]]:
        rows = _scan(self.directory, "experiments").collect().iter_rows()
        return {name: {str(arm): float(weight) for arm, weight in json.loads(arms)} for name, arms in rows}

    def releases(self) -> dict[str, datetime]:
        frame = _scan(self.directory, "model_versions").drop_nulls("released_at").collect()
        return dict(frame.iter_rows())
