"""The `Report`: everything `abkit report` prints and the dashboard shows (docs/report-schema.md).

``Report.to_dict()`` is the JSON document (plain dicts, lists, str, numbers, None);
``Report.model_validate(document)`` reads one back, e.g. a stored snapshot.
"""

from __future__ import annotations

from typing import Any, Literal

from abkit.report.contract.base import Contract, Figure, Interval, Reason, Timestamp
from abkit.report.contract.power import ExperimentPower
from abkit.report.contract.results import ComparisonResult, VersionResult
from abkit.report.groups import ArmKind

# 2: one version row per (experiment, model_version), interaction-level CIs in ``clustered``,
# phases, verdicts and the timeline.
SCHEMA_VERSION: Literal[2] = 2


class Window(Contract):
    """The report's half-open time window [since, until); null: open-ended."""

    since: Timestamp | None
    until: Timestamp | None


class Totals(Contract):
    """Event counts in the window (cases: those with a selection in the window)."""

    selections: int
    predictions: int
    cases: int


class TemplateRow(Contract):
    """One template: volume, holdout accuracy and time saved (holdout mean - treatment mean)."""

    template_id: str
    volume: int
    holdout_n: int
    treatment_n: int
    holdout_top5_accuracy: Figure
    holdout_top5_accuracy_missing: Reason = None
    treatment_mean_s: Figure
    treatment_mean_s_missing: Reason = None
    holdout_mean_s: Figure
    holdout_mean_s_missing: Reason = None
    saving_s: Figure
    saving_s_missing: Reason = None
    saving_ci95_s: Interval | None
    """Selection-level Welch interval of holdout - treatment: a description, templates are not randomised."""
    saving_ci95_s_missing: Reason = None


class TrendFigures(Contract):
    """Mann-Kendall test of the templates' savings ordered by holdout top-5 accuracy."""

    trend: str | None
    """"increasing", "decreasing" or "no trend" at alpha 0.05."""
    tau: Figure
    s: Figure
    z: Figure
    p: Figure
    sen_slope: Figure
    """Seconds of saving per rank of accuracy."""
    intercept: Figure = None
    """median(saving) - sen_slope * median(rank): the Sen line is intercept + sen_slope * rank (rank 0, 1, ...)."""
    n: int
    method: str
    """"original" or "hamed_rao" (variance corrected for autocorrelation)."""
    missing: str | None


class TemplateTrend(Contract):
    """The trend tested over a smaller top N: what a reader who keeps only N templates sees."""

    top_n: int
    templates: int
    """How many of those N have a holdout accuracy and a saving: the values tested."""
    mann_kendall: TrendFigures
    mann_kendall_hamed_rao: TrendFigures


class TemplateTable(Contract):
    """Top N templates by volume, with the trend of savings ordered by holdout accuracy."""

    top_n: int
    mann_kendall: TrendFigures
    mann_kendall_hamed_rao: TrendFigures
    """The same test with the variance corrected for autocorrelation (Hamed & Rao 1998)."""
    rows: tuple[TemplateRow, ...]
    trends: tuple[TemplateTrend, ...] = ()
    """The test over the top 5, 10, 20, 50 and 100 (those below top_n) and over top_n itself (last)."""


class TimeRow(Contract):
    """Selection time of one time bucket (its start: an hour, a day or a week) and arm kind."""

    start: Timestamp
    arm_kind: ArmKind
    n: int
    mean_s: Figure
    sd_s: Figure
    mean_ci95_s: Interval | None = None
    """95% Student-t interval of the bucket's mean, selections taken as independent (a description)."""
    mean_ci95_s_missing: Reason = None


class WeekRow(Contract):
    """Selection time of one ISO week (Monday start) and arm kind."""

    week_start: Timestamp
    arm_kind: ArmKind
    n: int
    mean_s: Figure
    sd_s: Figure
    mean_ci95_s: Interval | None = None
    """95% Student-t interval of the week's mean, selections taken as independent (a description)."""
    mean_ci95_s_missing: Reason = None


TimelineGrain = Literal["hour", "day", "week"]


class Timeline(Contract):
    """Selection time over time at a grain chosen from the data's span."""

    grain: TimelineGrain
    """hour (span up to 3 days), day (up to 120 days) or week."""
    rows: tuple[TimeRow, ...]


class PhaseRow(Contract):
    """One recorded definition of an experiment (table experiment_phases) and when it was in force."""

    experiment: str
    phase: int
    salt: str
    arms: dict[str, float]
    """Weight per arm."""
    started_at: Timestamp | None
    ended_at: Timestamp | None


class Release(Contract):
    """When a model version first served (events) and its registered release time, if any."""

    model_version: str
    first_seen: Timestamp | None
    released_at: Timestamp | None


class DayCount(Contract):
    """Event counts of one UTC day, experiment and arm."""

    day: Timestamp
    experiment: str
    arm: str
    selections: int
    predictions: int


class Latency(Contract):
    """Prediction latency of one model version in ms: count, linear-interpolated percentiles, max."""

    model_version: str
    n: int
    p50: float
    p90: float
    p99: float
    max: float


class ExperimentSrm(Contract):
    """Sample-ratio mismatch of one experiment phase (interactions per arm against that phase's weights)."""

    experiment: str
    phase: int
    started_at: Timestamp | None
    chi2: Figure
    df: int | None
    p: Figure
    flag: bool | None
    observed: dict[str, int]
    expected_share: dict[str, float]
    missing: str | None


class Report(Contract):
    """Everything `abkit report` prints and the dashboard shows."""

    schema_version: Literal[2]
    """The contract's version: 2 since verdicts, phases and the timeline."""
    generated_at: Timestamp
    """When the report was computed, UTC, e.g. 2026-11-23T15:00:00Z."""
    experiment: str | None
    """The experiment filter used; null: all experiments."""
    window: Window
    totals: Totals
    versions: tuple[VersionResult, ...]
    """One row per (experiment, salt run, model_version)."""
    comparisons: tuple[ComparisonResult, ...]
    templates: TemplateTable
    weekly: tuple[WeekRow, ...]
    """ISO weeks, whatever the timeline's grain."""
    timeline: Timeline
    phases: tuple[PhaseRow, ...]
    releases: tuple[Release, ...]
    daily_events: tuple[DayCount, ...]
    latency_ms: tuple[Latency, ...]
    srm_by_experiment: tuple[ExperimentSrm, ...]
    power: tuple[ExperimentPower, ...] = ()
    """Experiments with traffic in the last 14 days of the report's data: what each can detect, and when."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (plain dicts, lists, str, numbers and None; never NaN or Infinity)."""
        return self.model_dump(mode="json")
