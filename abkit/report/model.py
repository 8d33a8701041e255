"""The `Report`: a tree of frozen dataclasses and its JSON form (docs/report-schema.md).

Figures that cannot be computed are None here and ``null`` in JSON, with a sibling
``<name>_missing`` reason (or a ``missing`` key inside an object). Never NaN or Infinity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from abkit.report.arms import ArmComparison, PhaseComparison
from abkit.report.groups import DayCount, LatencyGroup, Totals, Window
from abkit.report.online import OnlineFigures
from abkit.report.power import ExperimentPower
from abkit.report.verdict import Verdict
from abkit.stats import DeltaResult, SampleSummary, SrmResult, TopKAccuracy, TrendResult, WelchResult

# 2: one version row per (experiment, model_version), interaction-level CIs in ``clustered``,
# phases, verdicts and the timeline.
SCHEMA_VERSION = 2


def iso(moment: datetime | date | None) -> str | None:
    """ISO 8601 text of a naive-UTC datetime or a date (None stays None)."""
    return None if moment is None else moment.isoformat()


def _figure(out: dict[str, Any], name: str, value: Any, reason: str | None) -> None:
    """Set ``out[name]``; when the value is None also say why in ``<name>_missing``."""
    out[name] = value
    if value is None:
        out[f"{name}_missing"] = reason or "not computed"


def _pair(values: tuple[float, float] | None) -> list[float] | None:
    return None if values is None else [values[0], values[1]]


@dataclass(frozen=True)
class ArmFigures:
    """Selection time of one arm: count, mean and sd (ddof = 1) in seconds."""

    n: int
    mean_s: float | None
    sd_s: float | None

    @classmethod
    def of(cls, summary: SampleSummary) -> ArmFigures:
        return cls(summary.n, summary.mean, summary.sd)

    def to_dict(self) -> dict[str, Any]:
        missing = "no selections" if self.n == 0 else ("n = 1" if self.sd_s is None else None)
        return {"n": self.n, "mean_s": self.mean_s, "sd_s": self.sd_s, "missing": missing}


def welch_dict(result: WelchResult) -> dict[str, Any]:
    """``{t, df, p, missing}`` of a Welch result."""
    return {"t": result.t, "df": result.df, "p": result.p, "missing": result.missing}


def srm_dict(result: SrmResult) -> dict[str, Any]:
    """The SRM object of the schema."""
    return {
        "chi2": result.chi2,
        "df": result.df,
        "p": result.p,
        "flag": result.flag,
        "observed": dict(result.observed),
        "expected_share": dict(result.expected_share),
        "missing": result.missing,
    }


def _delta_figures(out: dict[str, Any], delta: DeltaResult) -> None:
    _figure(out, "delta_s", delta.delta_s, delta.missing)
    _figure(out, "delta_ci95_s", _pair(delta.ci95_s), delta.missing)
    _figure(out, "delta_pct", delta.delta_pct, delta.pct_missing)
    _figure(out, "delta_ci95_pct", _pair(delta.ci95_pct), delta.pct_missing)


def _clustered_dict(comparison: ArmComparison) -> dict[str, Any]:
    """The interaction-level test and delta (phases combined): the figures decisions rest on."""
    out = welch_dict(comparison.clustered)
    delta = comparison.delta
    _figure(out, "delta_s", delta.delta_s, delta.missing)
    _figure(out, "delta_ci95_s", _pair(delta.ci95_s), delta.missing)
    _figure(out, "delta_pct", delta.delta_pct, delta.pct_missing)
    _figure(out, "delta_ci95_pct", _pair(delta.ci95_pct), delta.pct_missing)
    out["interactions_treatment"] = comparison.interactions_treatment
    out["interactions_control"] = comparison.interactions_control
    _figure(out, "design_effect", comparison.design_effect, comparison.mde_s_missing)
    return out


def _phase_dict(phase: PhaseComparison) -> dict[str, Any]:
    out: dict[str, Any] = {
        "phase": phase.phase,
        "started_at": iso(phase.started_at),
        "ended_at": iso(phase.ended_at),
        "weights": dict(phase.weights),
        "treatment_interactions": phase.treatment_interactions,
        "control_interactions": phase.control_interactions,
        "treatment_selections": phase.treatment_selections,
        "control_selections": phase.control_selections,
    }
    _figure(out, "delta_s", phase.delta.delta_s, phase.delta.missing)
    _figure(out, "clustered_delta_ci95_s", _pair(phase.delta.ci95_s), phase.delta.missing)
    out["srm"] = srm_dict(phase.srm)
    return out


def _comparison_figures(out: dict[str, Any], comparison: ArmComparison) -> None:
    """Selection-level delta and Welch (published method), interaction-level ``clustered``, phases, MDE."""
    _delta_figures(out, comparison.selection_delta)
    delta = comparison.delta
    _figure(out, "saving_s", None if delta.delta_s is None else -delta.delta_s, delta.missing)
    out["welch"] = welch_dict(comparison.welch)
    out["clustered"] = _clustered_dict(comparison)
    out["phases"] = [_phase_dict(phase) for phase in comparison.phases]
    _figure(out, "mde_s", comparison.mde_s, comparison.mde_s_missing)


def _worst_srm(comparison: ArmComparison) -> PhaseComparison | None:
    """The phase whose SRM is most suspicious (flagged first, then the smallest p)."""
    tested = [ph for ph in comparison.phases if ph.srm.flag is not None]
    if not tested:
        return None
    return min(tested, key=lambda ph: (not ph.srm.flag, ph.srm.p if ph.srm.p is not None else 0.0))


@dataclass(frozen=True)
class VersionReport:
    """One model version in one experiment: its treatment (suggestions shown) against that experiment's holdout."""

    experiment: str
    model_version: str
    first_seen: datetime | None
    last_seen: datetime | None
    comparison: ArmComparison
    holdout_accuracy: TopKAccuracy
    selections_per_case: float | None
    mean_handle_time_s: float | None
    case_time_saved_share: float | None
    case_time_saved_share_missing: str | None
    verdict: Verdict
    srm_missing: str | None = None
    salt: str | None = (
        None  # the salt run compared (a new salt starts a fresh experiment); None: unregistered  # why no phase of the experiment could be tested, if none could
    )
    online: OnlineFigures | None = None  # sequential, CUPED and guardrail (abkit.report.online)

    @property
    def treatment(self) -> ArmFigures:
        return ArmFigures.of(self.comparison.treatment)

    @property
    def holdout(self) -> ArmFigures:
        return ArmFigures.of(self.comparison.control)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "experiment": self.experiment,
            "salt": self.salt,
            "model_version": self.model_version,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "verdict": self.verdict.to_dict(),
            "treatment": self.treatment.to_dict(),
            "holdout": self.holdout.to_dict(),
        }
        _comparison_figures(out, self.comparison)
        out["holdout_accuracy"] = self.holdout_accuracy.to_dict()
        worst = _worst_srm(self.comparison)
        if worst is None:
            reasons = [ph.srm.missing for ph in self.comparison.phases if ph.srm.missing]
            _figure(out, "srm", None, reasons[0] if reasons else self.srm_missing)
        else:
            out["srm"] = {"experiment": self.experiment, "phase": worst.phase, **srm_dict(worst.srm)}
        reason = self.case_time_saved_share_missing
        _figure(out, "selections_per_case", self.selections_per_case, reason)
        _figure(out, "mean_handle_time_s", self.mean_handle_time_s, reason)
        _figure(out, "case_time_saved_share", self.case_time_saved_share, reason)
        if self.online is not None:
            out.update(self.online.to_dict())
        return out


@dataclass(frozen=True)
class ComparisonReport:
    """A challenger arm against the baseline arm (released first) of one experiment."""

    experiment: str
    baseline: str
    challenger: str
    comparison: ArmComparison
    p_holm: float | None
    verdict: Verdict
    online: OnlineFigures | None = None  # sequential, CUPED and guardrail (abkit.report.online)
    salt: str | None = None  # the salt run compared (a new salt starts a fresh experiment)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "experiment": self.experiment,
            "salt": self.salt,
            "baseline": self.baseline,
            "challenger": self.challenger,
            "verdict": self.verdict.to_dict(),
            "baseline_summary": ArmFigures.of(self.comparison.control).to_dict(),
            "challenger_summary": ArmFigures.of(self.comparison.treatment).to_dict(),
        }
        _comparison_figures(out, self.comparison)
        _figure(out, "p_holm", self.p_holm, self.comparison.clustered.missing)
        if self.online is not None:
            out.update(self.online.to_dict())
        return out


@dataclass(frozen=True)
class TemplateRow:
    """One template: volume, holdout accuracy and time saved (holdout mean - treatment mean)."""

    template_id: str
    volume: int
    holdout_n: int
    holdout_top5_accuracy: float | None
    treatment_mean_s: float | None
    holdout_mean_s: float | None
    saving_s: float | None
    treatment_n: int = 0
    saving_ci95_s: tuple[float, float] | None = None
    saving_ci95_s_missing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "template_id": self.template_id,
            "volume": self.volume,
            "holdout_n": self.holdout_n,
            "treatment_n": self.treatment_n,
        }
        _figure(out, "holdout_top5_accuracy", self.holdout_top5_accuracy, "no holdout selections with a prediction")
        _figure(out, "treatment_mean_s", self.treatment_mean_s, "no treatment selections")
        _figure(out, "holdout_mean_s", self.holdout_mean_s, "no holdout selections")
        _figure(out, "saving_s", self.saving_s, "needs treatment and holdout selections")
        _figure(out, "saving_ci95_s", _pair(self.saving_ci95_s), self.saving_ci95_s_missing)
        return out


def trend_dict(result: TrendResult) -> dict[str, Any]:
    """The Mann-Kendall object of the schema."""
    return {
        "trend": result.trend,
        "tau": result.tau,
        "s": result.s,
        "z": result.z,
        "p": result.p,
        "sen_slope": result.sen_slope,
        "n": result.n,
        "method": result.method,
        "missing": result.missing,
    }


@dataclass(frozen=True)
class TemplateTable:
    """Top N templates by volume, with the trend of savings ordered by holdout accuracy."""

    top_n: int
    rows: tuple[TemplateRow, ...]
    mann_kendall: TrendResult
    mann_kendall_hamed_rao: TrendResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "top_n": self.top_n,
            "mann_kendall": trend_dict(self.mann_kendall),
            "mann_kendall_hamed_rao": trend_dict(self.mann_kendall_hamed_rao),
            "rows": [row.to_dict() for row in self.rows],
        }


@dataclass(frozen=True)
class TimeRow:
    """Selection time of one time bucket (its start, UTC: an hour, a day or an ISO week) and arm kind."""

    start: datetime | date
    arm_kind: str
    n: int
    mean_s: float | None
    sd_s: float | None

    def to_dict(self, key: str = "start") -> dict[str, Any]:
        """The row's JSON; ``key`` names the start (``week_start`` in the weekly rows)."""
        return {key: iso(self.start), "arm_kind": self.arm_kind, "n": self.n, "mean_s": self.mean_s, "sd_s": self.sd_s}


@dataclass(frozen=True)
class Timeline:
    """Selection time over time at a grain chosen from the data's span (hour, day or week)."""

    grain: str
    rows: tuple[TimeRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"grain": self.grain, "rows": [row.to_dict() for row in self.rows]}


@dataclass(frozen=True)
class Release:
    """When a model version first served (events) and its registered release time, if any."""

    model_version: str
    first_seen: datetime | None
    released_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "first_seen": iso(self.first_seen),
            "released_at": iso(self.released_at),
        }


@dataclass(frozen=True)
class ExperimentSrm:
    """Sample-ratio mismatch of one experiment phase (interactions per arm against that phase's weights)."""

    experiment: str
    phase: int
    started_at: datetime | None
    srm: SrmResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "phase": self.phase,
            "started_at": iso(self.started_at),
            **srm_dict(self.srm),
        }


@dataclass(frozen=True)
class PhaseRow:
    """One recorded definition of an experiment and when it was in force."""

    experiment: str
    phase: int
    salt: str
    arms: tuple[tuple[str, float], ...]
    started_at: datetime | None
    ended_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "phase": self.phase,
            "salt": self.salt,
            "arms": dict(self.arms),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
        }


@dataclass(frozen=True)
class Report:
    """Everything `abkit report` prints and the dashboard shows; see docs/report-schema.md."""

    generated_at: datetime
    window: Window
    totals: Totals
    versions: tuple[VersionReport, ...]
    comparisons: tuple[ComparisonReport, ...]
    templates: TemplateTable
    weekly: tuple[TimeRow, ...]  # ISO weeks, whatever the timeline's grain
    timeline: Timeline
    phases: tuple[PhaseRow, ...]
    releases: tuple[Release, ...]
    daily_events: tuple[DayCount, ...]
    latency_ms: tuple[LatencyGroup, ...]
    srm_by_experiment: tuple[ExperimentSrm, ...]
    power: tuple[ExperimentPower, ...] = ()  # running experiments (abkit.report.power)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of docs/report-schema.md (plain dicts, lists, str, numbers, None)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": self.generated_at.replace(microsecond=0).isoformat() + "Z",
            "experiment": self.window.experiment,
            "window": {"since": iso(self.window.since), "until": iso(self.window.until)},
            "totals": {
                "selections": self.totals.selections,
                "predictions": self.totals.predictions,
                "cases": self.totals.cases,
            },
            "versions": [version.to_dict() for version in self.versions],
            "comparisons": [comparison.to_dict() for comparison in self.comparisons],
            "templates": self.templates.to_dict(),
            "weekly": [row.to_dict("week_start") for row in self.weekly],
            "timeline": self.timeline.to_dict(),
            "phases": [row.to_dict() for row in self.phases],
            "releases": [release.to_dict() for release in self.releases],
            "daily_events": [
                {
                    "day": iso(row.day),
                    "experiment": row.experiment,
                    "arm": row.arm,
                    "selections": row.selections,
                    "predictions": row.predictions,
                }
                for row in self.daily_events
            ],
            "latency_ms": [
                {
                    "model_version": row.model_version,
                    "n": row.n,
                    "p50": row.p50,
                    "p90": row.p90,
                    "p99": row.p99,
                    "max": row.max,
                }
                for row in self.latency_ms
            ],
            "srm_by_experiment": [row.to_dict() for row in self.srm_by_experiment],
            "power": [plan.to_dict() for plan in self.power],
        }
