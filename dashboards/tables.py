"""Tables of the dashboard, computed from one report (the JSON of docs/report-schema.md).

Pure functions: a report dict in, a pandas DataFrame out. The same frames feed the on-page
tables, the figures and the CSV downloads, so what an analyst downloads is what they saw.
Missing figures stay missing (NaN in the frame, an empty cell in the CSV) and the reasons the
report gives (``"<name>_missing"``) are gathered in a ``notes`` column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

Report = Mapping[str, Any]

ALPHA = 0.05  # two-sided significance level of the verdicts (the report's CIs are 95%)

SAVES_TIME = "saves time"
COSTS_TIME = "costs time"
INCONCLUSIVE = "inconclusive"
NOT_AVAILABLE = "n/a"


def _get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` or None when any step is missing or null."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _ci(obj: Mapping[str, Any], key: str, bound: int) -> Any:
    interval = obj.get(key)
    if isinstance(interval, Sequence) and len(interval) == 2:
        return interval[bound]
    return None


def _notes(obj: Mapping[str, Any]) -> str:
    """The report's reasons for missing figures: ``"<name>_missing"`` siblings and ``"missing"`` keys."""
    notes = []
    for key, value in obj.items():
        if key.endswith("_missing") and value:
            notes.append(f"{key.removesuffix('_missing')}: {value}")
        elif isinstance(value, Mapping) and value.get("missing"):
            notes.append(f"{key}: {value['missing']}")
    if obj.get("missing"):
        notes.append(str(obj["missing"]))
    return "; ".join(notes)


def verdict(ci_low: float | None, ci_high: float | None) -> str:
    """Significance at a glance from a 95% CI of ``delta_s`` (negative: time saved)."""
    if ci_low is None or ci_high is None or pd.isna(ci_low) or pd.isna(ci_high):
        return NOT_AVAILABLE
    if ci_high < 0:
        return SAVES_TIME
    if ci_low > 0:
        return COSTS_TIME
    return INCONCLUSIVE


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    # Explicit columns so an empty report still gives a table with headers (and a CSV header).
    return pd.DataFrame(rows, columns=list(columns))


OVERVIEW_COLUMNS = (
    "model_version",
    "first_seen",
    "last_seen",
    "n_treatment",
    "n_holdout",
    "mean_with_s",
    "mean_without_s",
    "delta_s",
    "delta_ci95_low_s",
    "delta_ci95_high_s",
    "delta_pct",
    "delta_ci95_low_pct",
    "delta_ci95_high_pct",
    "welch_p",
    "clustered_p",
    "top1",
    "top3",
    "top5",
    "case_time_saved_share",
    "srm_p",
    "srm_flag",
    "verdict",
    "notes",
)


def overview_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """One row per model version: window, n per arm, means, delta with CI, p-values, accuracy, SRM."""
    rows = []
    for v in report.get("versions") or []:
        if version and v.get("model_version") != version:
            continue
        low, high = _ci(v, "delta_ci95_s", 0), _ci(v, "delta_ci95_s", 1)
        rows.append(
            {
                "model_version": v.get("model_version"),
                "first_seen": v.get("first_seen"),
                "last_seen": v.get("last_seen"),
                "n_treatment": _get(v, "treatment", "n"),
                "n_holdout": _get(v, "holdout", "n"),
                "mean_with_s": _get(v, "treatment", "mean_s"),
                "mean_without_s": _get(v, "holdout", "mean_s"),
                "delta_s": v.get("delta_s"),
                "delta_ci95_low_s": low,
                "delta_ci95_high_s": high,
                "delta_pct": v.get("delta_pct"),
                "delta_ci95_low_pct": _ci(v, "delta_ci95_pct", 0),
                "delta_ci95_high_pct": _ci(v, "delta_ci95_pct", 1),
                "welch_p": _get(v, "welch", "p"),
                "clustered_p": _get(v, "clustered", "p"),
                "top1": _get(v, "holdout_accuracy", "top1"),
                "top3": _get(v, "holdout_accuracy", "top3"),
                "top5": _get(v, "holdout_accuracy", "top5"),
                "case_time_saved_share": v.get("case_time_saved_share"),
                "srm_p": _get(v, "srm", "p"),
                "srm_flag": _get(v, "srm", "flag"),
                "verdict": verdict(low, high),
                "notes": _notes(v),
            }
        )
    return _frame(rows, OVERVIEW_COLUMNS)


CHALLENGER_COLUMNS = (
    "experiment",
    "baseline",
    "challenger",
    "n_baseline",
    "n_challenger",
    "mean_baseline_s",
    "mean_challenger_s",
    "delta_s",
    "delta_ci95_low_s",
    "delta_ci95_high_s",
    "delta_pct",
    "welch_t",
    "welch_df",
    "welch_p",
    "clustered_p",
    "p_holm",
    "verdict",
    "notes",
)


def challengers_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """One row per version-vs-version test; a version filter keeps the tests it took part in."""
    rows = []
    for cmp in report.get("comparisons") or []:
        if version and version not in (cmp.get("baseline"), cmp.get("challenger")):
            continue
        low, high = _ci(cmp, "delta_ci95_s", 0), _ci(cmp, "delta_ci95_s", 1)
        p_holm = cmp.get("p_holm")
        # The CI is unadjusted; the verdict also requires the Holm-adjusted p under alpha.
        holm_ok = p_holm is not None and p_holm < ALPHA
        rows.append(
            {
                "experiment": cmp.get("experiment"),
                "baseline": cmp.get("baseline"),
                "challenger": cmp.get("challenger"),
                "n_baseline": _get(cmp, "baseline_summary", "n"),
                "n_challenger": _get(cmp, "challenger_summary", "n"),
                "mean_baseline_s": _get(cmp, "baseline_summary", "mean_s"),
                "mean_challenger_s": _get(cmp, "challenger_summary", "mean_s"),
                "delta_s": cmp.get("delta_s"),
                "delta_ci95_low_s": low,
                "delta_ci95_high_s": high,
                "delta_pct": cmp.get("delta_pct"),
                "welch_t": _get(cmp, "welch", "t"),
                "welch_df": _get(cmp, "welch", "df"),
                "welch_p": _get(cmp, "welch", "p"),
                "clustered_p": _get(cmp, "clustered", "p"),
                "p_holm": p_holm,
                "verdict": verdict(low, high) if holm_ok or p_holm is None else INCONCLUSIVE,
                "notes": _notes(cmp),
            }
        )
    return _frame(rows, CHALLENGER_COLUMNS)


TEMPLATE_COLUMNS = (
    "template_id",
    "volume",
    "holdout_n",
    "holdout_top5_accuracy",
    "treatment_mean_s",
    "holdout_mean_s",
    "saving_s",
    "notes",
)


def templates_table(report: Report, top_n: int | None = None) -> pd.DataFrame:
    """The report's top templates, by volume (largest first), cut to ``top_n`` when given."""
    if top_n is not None and top_n < 1:
        raise ValueError(f"top_n: must be at least 1, got {top_n}")
    rows = [{**{k: row.get(k) for k in TEMPLATE_COLUMNS[:-1]}, "notes": _notes(row)} for row in _template_rows(report)]
    frame = _frame(rows, TEMPLATE_COLUMNS)
    frame = frame.sort_values("volume", ascending=False, kind="stable", ignore_index=True)
    return frame.head(top_n) if top_n is not None else frame


def _template_rows(report: Report) -> list[Mapping[str, Any]]:
    return list(_get(report, "templates", "rows") or [])


WEEKLY_COLUMNS = (
    "week_start",
    "n_with",
    "mean_with_s",
    "sd_with_s",
    "n_without",
    "mean_without_s",
    "sd_without_s",
    "saving_s",
    "seconds_saved",
    "cumulative_seconds_saved",
)


def weekly_table(report: Report, since: date | None = None, until: date | None = None) -> pd.DataFrame:
    """Weekly mean selection time with suggestions (treatment) and without (holdout).

    ``seconds_saved`` is the week's saving per selection times its treatment selections
    (``(mean_without - mean_with) * n_with``); weeks without a holdout mean save an unknown
    amount, left empty and skipped by the running total. ``since``/``until`` keep the weeks
    that start inside ``[since, until]``.
    """
    weeks: dict[str, dict[str, Any]] = {}
    for row in report.get("weekly") or []:
        week = str(row.get("week_start"))
        target = weeks.setdefault(week, {"week_start": week})
        suffix = "with" if row.get("arm_kind") == "treatment" else "without"
        target[f"n_{suffix}"] = row.get("n")
        target[f"mean_{suffix}_s"] = row.get("mean_s")
        target[f"sd_{suffix}_s"] = row.get("sd_s")  # optional in the contract; drawn as a 95% CI when given
    frame = _frame([weeks[w] for w in sorted(weeks)], WEEKLY_COLUMNS[:7])
    if since is not None:
        frame = frame[frame["week_start"] >= since.isoformat()]
    if until is not None:
        frame = frame[frame["week_start"] <= until.isoformat()]
    frame = frame.reset_index(drop=True)
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
    return _frame(rows, ("model_version", "first_seen")).sort_values("first_seen", ignore_index=True)


SRM_COLUMNS = ("experiment", "chi2", "df", "p", "flag", "observed", "expected_share", "notes")


def _shares(mapping: Mapping[str, Any] | None, fmt: Callable[[Any], str]) -> str:
    if not isinstance(mapping, Mapping):
        return ""
    return ", ".join(f"{arm} {fmt(value)}" for arm, value in mapping.items())


def srm_table(report: Report) -> pd.DataFrame:
    """Sample-ratio-mismatch test per experiment (observed counts vs configured weights)."""
    rows = [
        {
            "experiment": s.get("experiment"),
            "chi2": s.get("chi2"),
            "df": s.get("df"),
            "p": s.get("p"),
            "flag": s.get("flag"),
            "observed": _shares(s.get("observed"), lambda n: f"{n:,}"),
            "expected_share": _shares(s.get("expected_share"), lambda w: f"{w:g}"),
            "notes": _notes(s),
        }
        for s in report.get("srm_by_experiment") or []
    ]
    return _frame(rows, SRM_COLUMNS)


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
    return _frame(rows, DAILY_COLUMNS).sort_values(["day", "experiment", "arm"], ignore_index=True)


LATENCY_COLUMNS = ("model_version", "n", "p50", "p90", "p99", "max")


def latency_table(report: Report, version: str | None = None) -> pd.DataFrame:
    """Serving latency percentiles (ms) per model version, from the prediction log."""
    rows = [
        {k: r.get(k) for k in LATENCY_COLUMNS}
        for r in report.get("latency_ms") or []
        if not version or r.get("model_version") == version
    ]
    return _frame(rows, LATENCY_COLUMNS)


def version_windows(report: Report) -> dict[str, tuple[str | None, str | None]]:
    """Deployment window (first_seen, last_seen) of each model version in the report."""
    return {v["model_version"]: (v.get("first_seen"), v.get("last_seen")) for v in report.get("versions") or []}
