"""Tables of the time axis, computed from one report: the timeline, releases and experiment phases.

Pure functions, like :mod:`dashboards.tables`: a report dict in, a DataFrame out. The report
chooses the timeline's grain (hour, day or week) from the span of its data, so a world whose
events all fall within a few hours still has several points.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from dashboards.fields import ci_bound, columns_frame, get, notes, shares
from dashboards.tables import Report

# Length of one time bucket of each grain, in milliseconds (plotly's unit for date axes).
GRAIN_MS = {"hour": 3_600_000, "day": 86_400_000, "week": 7 * 86_400_000}
# Tick labels by grain: never finer than the grain (no "23:59:59.9995" on a one-point axis).
TICK_FORMAT = {"hour": "%b %d %H:%M", "day": "%b %d", "week": "%b %d, %Y"}

# The report's figures per bucket (the 95% interval of each mean is the report's), then what this table derives.
BUCKET_COLUMNS = tuple(
    f"{figure}_{suffix}{unit}"
    for suffix in ("with", "without")
    for figure, unit in (("n", ""), ("mean", "_s"), ("sd", "_s"), ("mean_ci95_low", "_s"), ("mean_ci95_high", "_s"))
)
TIMELINE_COLUMNS = ("start", *BUCKET_COLUMNS, "saving_s", "seconds_saved", "cumulative_seconds_saved")


def timeline_grain(report: Report) -> str | None:
    """The grain of the report's timeline ("hour", "day", "week"), or None without one."""
    if isinstance(report.get("timeline"), Mapping):
        return get(report, "timeline", "grain")
    return "week" if report.get("weekly") else None


def _timeline_rows(report: Report) -> list[Mapping[str, Any]]:
    if isinstance(report.get("timeline"), Mapping):
        return list(get(report, "timeline", "rows") or [])
    # Reports written before the timeline existed have ISO weeks only.
    return [{**row, "start": row.get("week_start")} for row in report.get("weekly") or []]


def timeline_table(report: Report, since: date | None = None, until: date | None = None) -> pd.DataFrame:
    """Mean selection time per time bucket with suggestions (treatment) and without (holdout).

    ``seconds_saved`` is the bucket's saving per selection times its treatment selections
    (``(mean_without - mean_with) * n_with``); buckets without both means save an unknown
    amount, left empty and skipped by the running total. ``since``/``until`` keep the buckets
    that start on those days or between them.
    """
    buckets: dict[str, dict[str, Any]] = {}
    for row in _timeline_rows(report):
        start = str(row.get("start"))
        target = buckets.setdefault(start, {"start": start})
        suffix = "with" if row.get("arm_kind") == "treatment" else "without"
        target[f"n_{suffix}"] = row.get("n")
        target[f"mean_{suffix}_s"] = row.get("mean_s")
        target[f"sd_{suffix}_s"] = row.get("sd_s")
        target[f"mean_ci95_low_{suffix}_s"] = ci_bound(row, "mean_ci95_s", 0)
        target[f"mean_ci95_high_{suffix}_s"] = ci_bound(row, "mean_ci95_s", 1)
    frame = columns_frame([buckets[b] for b in sorted(buckets)], ("start", *BUCKET_COLUMNS))
    day = frame["start"].str[:10]
    keep = pd.Series(True, index=frame.index)
    if since is not None:
        keep &= day >= since.isoformat()
    if until is not None:
        keep &= day <= until.isoformat()
    frame = frame[keep].reset_index(drop=True)
    with_mean = pd.to_numeric(frame["mean_with_s"], errors="coerce")
    without_mean = pd.to_numeric(frame["mean_without_s"], errors="coerce")
    frame["saving_s"] = without_mean - with_mean
    frame["seconds_saved"] = frame["saving_s"] * pd.to_numeric(frame["n_with"], errors="coerce")
    frame["cumulative_seconds_saved"] = frame["seconds_saved"].fillna(0.0).cumsum()
    return frame


def releases_table(report: Report) -> pd.DataFrame:
    """When each model version was first seen, oldest first."""
    rows = [
        {"model_version": r.get("model_version"), "first_seen": r.get("first_seen")}
        for r in report.get("releases") or []
    ]
    return columns_frame(rows, ("model_version", "first_seen")).sort_values("first_seen", ignore_index=True)


PHASE_COLUMNS = ("experiment", "phase", "salt", "arms", "started_at", "ended_at", "last_selection_at")


def _last_selections(report: Report) -> dict[str, str]:
    """Each experiment's last selection in the report (its version rows' ``last_seen``)."""
    last: dict[str, str] = {}
    for v in report.get("versions") or []:
        experiment, seen = v.get("experiment"), v.get("last_seen")
        if experiment and seen:
            last[experiment] = max(seen, last.get(experiment, seen))
    return last


def phases_table(report: Report, experiment: str | None = None) -> pd.DataFrame:
    """Each experiment's definitions over time: one row per phase (salt and arm weights in force).

    ``ended_at`` is empty for a phase still in force (no later definition); ``last_selection_at`` is
    the experiment's last selection in the report, where a finished test's last phase stops in the data.
    """
    last = _last_selections(report)
    rows = [
        {
            **{k: p.get(k) for k in PHASE_COLUMNS},
            "arms": shares(p.get("arms"), lambda w: f"{w:g}"),
            "last_selection_at": last.get(p.get("experiment") or ""),
        }
        for p in report.get("phases") or []
        if not experiment or p.get("experiment") == experiment
    ]
    return columns_frame(rows, PHASE_COLUMNS).sort_values(["experiment", "phase"], ignore_index=True)


VERSION_PHASE_COLUMNS = (
    "model_version",
    "experiment",
    "phase",
    "started_at",
    "ended_at",
    "weights",
    "treatment_n",
    "holdout_n",
    "treatment_interactions",
    "holdout_interactions",
    "delta_s",
    "delta_ci95_low_s",
    "delta_ci95_high_s",
    "srm_p",
    "srm_flag",
    "notes",
)


def version_phases_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """Each version's result per phase of its experiment (delta with its interaction-level CI, SRM)."""
    rows = []
    for v in report.get("versions") or []:
        if version and v.get("model_version") != version:
            continue
        for p in v.get("phases") or []:
            rows.append(
                {
                    "model_version": v.get("model_version"),
                    "experiment": v.get("experiment"),
                    **{k: p.get(k) for k in ("phase", "started_at", "ended_at", "delta_s")},
                    # Selections and interactions (the randomisation unit) per arm in the phase.
                    "treatment_n": p.get("treatment_selections"),
                    "holdout_n": p.get("control_selections"),
                    "treatment_interactions": p.get("treatment_interactions"),
                    "holdout_interactions": p.get("control_interactions"),
                    "weights": shares(p.get("weights"), lambda w: f"{w:g}"),
                    "delta_ci95_low_s": ci_bound(p, "clustered_delta_ci95_s", 0),
                    "delta_ci95_high_s": ci_bound(p, "clustered_delta_ci95_s", 1),
                    "srm_p": get(p, "srm", "p"),
                    "srm_flag": get(p, "srm", "flag"),
                    "notes": notes(p),
                }
            )
    return columns_frame(rows, VERSION_PHASE_COLUMNS)


SEQUENCE_COLUMNS = (
    "result",
    "experiment",
    "end",
    "delta_s",
    "ci95_low_s",
    "ci95_high_s",
    "p",
    "interactions",
    "cuped",
    "excludes_zero",
    "may_stop",
)


def _results(report: Report, version: str | None) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, result) of every version row and comparison that has a sequence, optionally of one version."""
    found = []
    for v in report.get("versions") or []:
        if (not version or v.get("model_version") == version) and v.get("sequence"):
            found.append((f"{v.get('model_version')} vs holdout ({v.get('experiment')})", v))
    for c in report.get("comparisons") or []:
        if (not version or version in (c.get("challenger"), c.get("baseline"))) and c.get("sequence"):
            found.append((f"{c.get('challenger')} vs {c.get('baseline')} ({c.get('experiment')})", c))
    return found


def sequence_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """Each result's always-valid 95% confidence sequence as of the end of each time bucket.

    ``excludes_zero``: the look's interval lies wholly on one side of 0; ``may_stop`` marks the first
    such look of each result, where a sequential test may stop (any later look is as valid).
    """
    rows = []
    for label, result in _results(report, version):
        stopped = False
        for point in result.get("sequence") or []:
            low, high = ci_bound(point, "delta_ci95_s", 0), ci_bound(point, "delta_ci95_s", 1)
            excludes = low is not None and high is not None and (low > 0 or high < 0)
            rows.append(
                {
                    "result": label,
                    "experiment": result.get("experiment"),
                    "end": point.get("end"),
                    "delta_s": point.get("delta_s"),
                    "ci95_low_s": low,
                    "ci95_high_s": high,
                    "p": point.get("p"),
                    "interactions": point.get("interactions"),
                    "cuped": bool(result.get("sequence_cuped")),
                    "excludes_zero": excludes,
                    "may_stop": excludes and not stopped,
                }
            )
            stopped = stopped or excludes
    return columns_frame(rows, SEQUENCE_COLUMNS)
