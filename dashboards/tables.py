"""Tables of the dashboard, computed from one report (the JSON of docs/report-schema.md).

Pure functions: a report dict in, a pandas DataFrame out. The same frames feed the on-page
tables, the figures and the CSV downloads, so what an analyst downloads is what they saw.
Missing figures stay missing (NaN in the frame, an empty cell in the CSV) and the reasons the
report gives (``"<name>_missing"``) are gathered in a ``notes`` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from dashboards.fields import ci_bound, columns_frame, get, notes, shares

Report = Mapping[str, Any]

SAVES_TIME = "saves time"
COSTS_TIME = "costs time"
INCONCLUSIVE = "inconclusive"
NOT_AVAILABLE = "n/a"


def ci_reading(ci_low: float | None, ci_high: float | None) -> str:
    """What a 95% CI of ``delta_s`` (negative: time saved) says on its own, for colours.

    The decision is the report's ``verdict``; this reading only colours a chart's interval.
    """
    if ci_low is None or ci_high is None or pd.isna(ci_low) or pd.isna(ci_high):
        return NOT_AVAILABLE
    if ci_high < 0:
        return SAVES_TIME
    if ci_low > 0:
        return COSTS_TIME
    return INCONCLUSIVE


def _verdict(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The report's verdict as three columns; a report without one says so in ``verdict``."""
    decision = get(obj, "verdict", "decision")
    return {
        "verdict": decision if decision else NOT_AVAILABLE,
        "verdict_reason": get(obj, "verdict", "reason"),
        "analysis": get(obj, "verdict", "analysis"),
    }


def _intervals(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Interaction-level (clustered, primary) and selection-level (Welch, published) deltas and intervals.

    The interaction-level delta combines the phases (weighted by their size); a report without
    one (schema 1) has the selection-level delta only, which then stands in as ``delta_s``.
    """
    clustered = obj.get("clustered") or {}
    combined = "delta_s" in clustered or "delta_s_missing" in clustered
    return {
        "delta_s": clustered.get("delta_s") if combined else obj.get("delta_s"),
        "delta_pct": clustered.get("delta_pct") if combined else obj.get("delta_pct"),
        "delta_ci95_low_s": ci_bound(clustered, "delta_ci95_s", 0),
        "delta_ci95_high_s": ci_bound(clustered, "delta_ci95_s", 1),
        "delta_ci95_low_pct": ci_bound(clustered, "delta_ci95_pct", 0),
        "delta_ci95_high_pct": ci_bound(clustered, "delta_ci95_pct", 1),
        "clustered_p": clustered.get("p"),
        "selection_level_delta_s": obj.get("delta_s"),
        "selection_level_ci95_low_s": ci_bound(obj, "delta_ci95_s", 0),
        "selection_level_ci95_high_s": ci_bound(obj, "delta_ci95_s", 1),
        "selection_level_p": get(obj, "welch", "p"),
    }


# Interaction-level figures (the randomisation unit) carry the decision; the selection-level
# Welch test of the published method sits beside them, labelled ``selection_level_*``.
_DECISION_COLUMNS = (
    "delta_s",
    "delta_ci95_low_s",
    "delta_ci95_high_s",
    "delta_pct",
    "delta_ci95_low_pct",
    "delta_ci95_high_pct",
    "clustered_p",
    "selection_level_delta_s",
    "selection_level_ci95_low_s",
    "selection_level_ci95_high_s",
    "selection_level_p",
)

OVERVIEW_COLUMNS = (
    "model_version",
    "experiment",
    "salt",
    "verdict",
    "verdict_reason",
    "analysis",
    *_DECISION_COLUMNS,
    "n_treatment",
    "n_holdout",
    "mean_with_s",
    "mean_without_s",
    "top1",
    "top3",
    "top5",
    "case_time_saved_share",
    "srm_p",
    "srm_flag",
    "first_seen",
    "last_seen",
    "notes",
)


def overview_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """One row per (experiment, model version): verdict, delta with CIs, p-values, n, accuracy, SRM.

    ``version`` keeps the rows of that model version (one per experiment it ran in).
    """
    rows = []
    for v in report.get("versions") or []:
        if version and v.get("model_version") != version:
            continue
        rows.append(
            {
                "model_version": v.get("model_version"),
                "experiment": v.get("experiment"),
                "salt": v.get("salt"),  # a new salt starts a new run of the experiment: its own rows
                **_verdict(v),
                **_intervals(v),
                "n_treatment": get(v, "treatment", "n"),
                "n_holdout": get(v, "holdout", "n"),
                "mean_with_s": get(v, "treatment", "mean_s"),
                "mean_without_s": get(v, "holdout", "mean_s"),
                "top1": get(v, "holdout_accuracy", "top1"),
                "top3": get(v, "holdout_accuracy", "top3"),
                "top5": get(v, "holdout_accuracy", "top5"),
                "case_time_saved_share": v.get("case_time_saved_share"),
                "srm_p": get(v, "srm", "p"),
                "srm_flag": get(v, "srm", "flag"),
                "first_seen": v.get("first_seen"),
                "last_seen": v.get("last_seen"),
                "notes": notes(v),
            }
        )
    return columns_frame(rows, OVERVIEW_COLUMNS)


CHALLENGER_COLUMNS = (
    "experiment",
    "salt",
    "challenger",
    "baseline",
    "verdict",
    "verdict_reason",
    "analysis",
    *_DECISION_COLUMNS,
    "p_holm",
    "n_baseline",
    "n_challenger",
    "mean_baseline_s",
    "mean_challenger_s",
    "welch_t",
    "welch_df",
    "notes",
)


def challengers_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """One row per version-vs-version test; a version filter keeps the tests it took part in.

    ``p_holm`` is the report's Holm adjustment of the interaction-level p across comparisons.
    """
    rows = []
    for cmp in report.get("comparisons") or []:
        if version and version not in (cmp.get("baseline"), cmp.get("challenger")):
            continue
        rows.append(
            {
                "experiment": cmp.get("experiment"),
                "salt": cmp.get("salt"),
                "challenger": cmp.get("challenger"),
                "baseline": cmp.get("baseline"),
                **_verdict(cmp),
                **_intervals(cmp),
                "p_holm": cmp.get("p_holm"),
                "n_baseline": get(cmp, "baseline_summary", "n"),
                "n_challenger": get(cmp, "challenger_summary", "n"),
                "mean_baseline_s": get(cmp, "baseline_summary", "mean_s"),
                "mean_challenger_s": get(cmp, "challenger_summary", "mean_s"),
                "welch_t": get(cmp, "welch", "t"),
                "welch_df": get(cmp, "welch", "df"),
                "notes": notes(cmp),
            }
        )
    return columns_frame(rows, CHALLENGER_COLUMNS)


TEMPLATE_COLUMNS = (
    "template_id",
    "volume",
    "treatment_n",
    "holdout_n",
    "holdout_top5_accuracy",
    "treatment_mean_s",
    "holdout_mean_s",
    "saving_s",
    "saving_ci95_low_s",
    "saving_ci95_high_s",
    "notes",
)


def templates_table(report: Report, top_n: int | None = None) -> pd.DataFrame:
    """The report's top templates by volume (largest first, ties by id as the report orders them),
    cut to ``top_n`` when given. ``saving_ci95_*`` is the report's selection-level Welch CI."""
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n: must be at least 1, got {top_n}")
    rows = [
        {
            **{k: row.get(k) for k in TEMPLATE_COLUMNS[:8]},
            "saving_ci95_low_s": ci_bound(row, "saving_ci95_s", 0),
            "saving_ci95_high_s": ci_bound(row, "saving_ci95_s", 1),
            "notes": notes(row),
        }
        for row in get(report, "templates", "rows") or []
    ]
    frame = columns_frame(rows, TEMPLATE_COLUMNS)
    frame = frame.sort_values(["volume", "template_id"], ascending=[False, True], kind="stable", ignore_index=True)
    return frame.head(top_n) if top_n is not None else frame


def drawn_templates(frame: pd.DataFrame) -> pd.DataFrame:
    """The templates a chart can place (accuracy and saving known), ordered by holdout top-5
    accuracy (ties by id): the order in which the report tests the trend."""
    accuracy = pd.to_numeric(frame["holdout_top5_accuracy"], errors="coerce")
    saving = pd.to_numeric(frame["saving_s"], errors="coerce")
    drawable = frame[accuracy.notna() & saving.notna()]
    return drawable.sort_values(["holdout_top5_accuracy", "template_id"], kind="stable", ignore_index=True)


def template_trend(report: Report, top_n: int) -> dict[str, dict[str, Any]]:
    """The report's Mann-Kendall results (original and Hamed-Rao) over its top ``top_n`` templates.

    The report tests the trend over each top-N view the page offers (``templates.trends``), so the
    test runs over exactly the templates drawn, in the report's order; asking for more templates
    than the report kept reads its own top N. A snapshot stored before the per-view trends says so.
    """
    templates = report.get("templates") or {}
    kept = templates.get("top_n")
    wanted = min(top_n, kept) if isinstance(kept, int) else top_n
    for trend in templates.get("trends") or []:
        if trend.get("top_n") == wanted:
            return {key: trend.get(key) or {} for key in ("mann_kendall", "mann_kendall_hamed_rao")}
    if wanted == kept:
        return {key: templates.get(key) or {} for key in ("mann_kendall", "mann_kendall_hamed_rao")}
    reason = f"this report has no trend over its top {wanted} templates (stored before they were tested): press Refresh"
    return {key: {"method": method, "missing": reason} for key, method in TREND_METHODS}


TREND_METHODS = (("mann_kendall", "original"), ("mann_kendall_hamed_rao", "hamed_rao"))


SRM_COLUMNS = ("experiment", "phase", "started_at", "chi2", "df", "p", "flag", "observed", "expected_share", "notes")


def srm_table(report: Report) -> pd.DataFrame:
    """Sample-ratio-mismatch test per experiment phase (observed counts vs that phase's weights)."""
    rows = [
        {
            "experiment": s.get("experiment"),
            "phase": s.get("phase"),
            "started_at": s.get("started_at"),
            "chi2": s.get("chi2"),
            "df": s.get("df"),
            "p": s.get("p"),
            "flag": s.get("flag"),
            "observed": shares(s.get("observed"), lambda n: f"{n:,}"),
            "expected_share": shares(s.get("expected_share"), lambda w: f"{w:g}"),
            "notes": notes(s),
        }
        for s in report.get("srm_by_experiment") or []
    ]
    return columns_frame(rows, SRM_COLUMNS)


DAILY_COLUMNS = ("day", "experiment", "arm", "selections", "predictions")


def daily_events_table(
    report: Report,
    *,
    experiment: str | None = None,
    version: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> pd.DataFrame:
    """Events per day and arm; a version filter keeps that version's arm and the holdout."""
    rows = []
    for r in report.get("daily_events") or []:
        day = str(r.get("day"))
        if experiment and r.get("experiment") != experiment:
            continue
        if version and r.get("arm") not in (version, "holdout"):
            continue
        if (since and day < since.isoformat()) or (until and day > until.isoformat()):
            continue
        rows.append({k: r.get(k) for k in DAILY_COLUMNS})
    return columns_frame(rows, DAILY_COLUMNS).sort_values(["day", "experiment", "arm"], ignore_index=True)


LATENCY_COLUMNS = ("model_version", "n", "p50", "p90", "p99", "max")


def latency_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """Serving latency percentiles (ms) per model version, from the prediction log."""
    rows = [
        {k: r.get(k) for k in LATENCY_COLUMNS}
        for r in report.get("latency_ms") or []
        if not version or r.get("model_version") == version
    ]
    return columns_frame(rows, LATENCY_COLUMNS)


def run_label(experiment: object, salt: object) -> str:
    """An experiment as the page names it; with the salt when it differs from the name (a re-salted run)."""
    if salt and salt != experiment:
        return f"{experiment} (salt {salt})"
    return str(experiment)


def version_windows(report: Report) -> dict[str, tuple[str | None, str | None]]:
    """Deployment window (first_seen, last_seen) of each model version, over every experiment it ran in."""
    windows: dict[str, tuple[str | None, str | None]] = {}
    for v in report.get("versions") or []:
        name = v.get("model_version")
        if not isinstance(name, str):  # a row without its version cannot be filtered on
            continue
        first, last = windows.get(name, (None, None))
        seen = (v.get("first_seen"), v.get("last_seen"))
        windows[name] = (
            min((t for t in (first, seen[0]) if t), default=None),
            max((t for t in (last, seen[1]) if t), default=None),
        )
    return windows
