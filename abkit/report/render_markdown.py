"""Markdown (and shared plain-text formatting) of the typed report (abkit.report.contract).

Renderers take the typed :class:`Report`, so a stored snapshot (``Report.model_validate``) renders
exactly like a fresh report; they format figures and never compute one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from abkit.report.contract import Report
from abkit.report.contract.report import TrendFigures
from abkit.report.contract.results import ComparisonResult, VersionResult

DASH = "—"


def render_json(report: Report) -> str:
    """The report as strict JSON (no NaN or Infinity), indented."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"


def number(value: Any, digits: int = 3) -> str:
    """A figure for a table: None becomes a dash, floats get ``digits`` significant digits."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits}g}" if abs(value) >= 1e6 else f"{value:.{max(digits - 1, 1)}e}"
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def interval(pair: Sequence[float] | None, digits: int = 3) -> str:
    return DASH if pair is None else f"[{number(pair[0], digits)}, {number(pair[1], digits)}]"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def significance(p: float | None) -> str:
    return DASH if p is None else number(p)


def result_name(result: VersionResult | ComparisonResult) -> str:
    """How a table names a result: "v4 vs holdout" or "v5 vs v4"."""
    if isinstance(result, VersionResult):
        return f"{result.model_version} vs holdout"
    return f"{result.challenger} vs {result.baseline}"


def verdict_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the verdicts: what to do about each version and comparison, and why."""
    header = ["experiment", "result", "decision", "why"]
    results: list[VersionResult | ComparisonResult] = [*report.versions, *report.comparisons]
    rows = [[r.experiment, result_name(r), r.verdict.decision, r.verdict.reason] for r in results]
    return header, rows


def version_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-version table (shared by Markdown and HTML)."""
    header = [
        "experiment",
        "version",
        "n treatment",
        "n holdout",
        "interactions",
        "mean treatment s",
        "mean holdout s",
        "saving s",
        "delta 95% CI s",
        "delta %",
        "p",
        "Welch p (selection)",
        "Welch CI s (selection)",
        "holdout top-1/3/5",
        "SRM p",
        "case time saved",
        "MDE s",
    ]
    rows = []
    for v in report.versions:
        accuracy, clustered = v.holdout_accuracy, v.clustered
        rows.append(
            [
                v.experiment,
                v.model_version,
                number(v.treatment.n),
                number(v.holdout.n),
                f"{number(clustered.interactions_treatment)} / {number(clustered.interactions_control)}",
                number(v.treatment.mean_s),
                number(v.holdout.mean_s),
                number(v.saving_s),
                interval(clustered.delta_ci95_s),
                number(clustered.delta_pct),
                significance(clustered.p),
                significance(v.welch.p),
                interval(v.delta_ci95_s),
                " / ".join(percent(share) for share in (accuracy.top1, accuracy.top3, accuracy.top5)),
                DASH if v.srm is None else significance(v.srm.p) + (" SRM!" if v.srm.flag else ""),
                percent(v.case_time_saved_share),
                number(v.mde_s),
            ]
        )
    return header, rows


def comparison_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["experiment", "baseline", "challenger", "n baseline", "n challenger", "delta s", "delta 95% CI s"]
    header += ["delta %", "p", "Holm p", "Welch p (selection)", "Welch CI s (selection)"]
    rows = []
    for c in report.comparisons:
        clustered = c.clustered
        rows.append(
            [
                c.experiment,
                c.baseline,
                c.challenger,
                number(c.baseline_summary.n),
                number(c.challenger_summary.n),
                number(clustered.delta_s),
                interval(clustered.delta_ci95_s),
                number(clustered.delta_pct),
                significance(clustered.p),
                significance(c.p_holm),
                significance(c.welch.p),
                interval(c.delta_ci95_s),
            ]
        )
    return header, rows


def template_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["template", "volume", "holdout n", "holdout top-5", "treatment mean s", "holdout mean s", "saving s"]
    rows = [
        [
            r.template_id,
            number(r.volume),
            number(r.holdout_n),
            percent(r.holdout_top5_accuracy),
            number(r.treatment_mean_s),
            number(r.holdout_mean_s),
            number(r.saving_s),
        ]
        for r in report.templates.rows
    ]
    return header, rows


def trend_line(trend: TrendFigures) -> str:
    """One sentence on a Mann-Kendall result."""
    if trend.missing:
        return f"Mann-Kendall ({trend.method}): not computed ({trend.missing})."
    return (
        f"Mann-Kendall ({trend.method}): {trend.trend}, tau = {number(trend.tau)}, "
        f"S = {number(trend.s)}, z = {number(trend.z)}, p = {number(trend.p)}, "
        f"Sen slope = {number(trend.sen_slope)} s per rank."
    )


def missing_notes(report: Report) -> list[str]:
    """Why figures are missing, one line per version or comparison that has any."""
    notes = []
    results: list[VersionResult | ComparisonResult] = [*report.versions, *report.comparisons]
    for result in results:
        name = (
            f"{result.model_version} ({result.experiment})"
            if isinstance(result, VersionResult)
            else f"{result.challenger} vs {result.baseline} ({result.experiment})"
        )
        fields: dict[str, Any] = result.model_dump()  # the reasons, wherever the contract puts them
        reasons = sorted({str(v) for k, v in fields.items() if k.endswith("_missing")})
        reasons += sorted(
            {f"{k}: {v['missing']}" for k, v in fields.items() if isinstance(v, dict) and v.get("missing")}
        )
        if reasons:
            notes.append(f"{name}: " + "; ".join(reasons))
    return notes


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return ["_none_", ""]
    escape = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _online_section(report: Report) -> list[str]:
    """Sequential, CUPED and guardrail figures (abkit.report.render_online); none in older snapshots."""
    from abkit.report.render_online import ONLINE_NOTE, online_rows

    header, rows = online_rows(report)
    if not rows:
        return []
    return ["## Online monitoring: always-valid, CUPED and guardrail", "", *_table(header, rows), ONLINE_NOTE, ""]


def render_markdown(report: Report) -> str:
    """The report as Markdown: verdicts, versions, comparisons, templates, latency, SRM."""
    window, totals, templates = report.window, report.totals, report.templates
    lines = [
        "# abkit significance report",
        "",
        f"Generated {report.generated_at}; experiment: {report.experiment or 'all'}; "
        f"window: {window.since or 'start'} to {window.until or 'now'}.",
        f"Events: {number(totals.selections)} selections, {number(totals.predictions)} predictions, "
        f"{number(totals.cases)} cases.",
        "",
        "## Verdicts",
        "",
        *_table(*verdict_rows(report)),
        "Delta = mean(treatment) - mean(holdout); a negative delta is time saved. Deltas, CIs, p, Holm, MDE and "
        "verdicts use the advocate-case interaction (the randomisation unit) and combine experiment phases; "
        "the Welch columns are the selection-level test of the published system, anti-conservative when "
        "selections cluster.",
        "",
        "## Model versions against their holdout",
        "",
        *_table(*version_rows(report)),
        "## Challenger comparisons (Holm-adjusted across the report)",
        "",
        *_table(*comparison_rows(report)),
        *_online_section(report),
        f"## Templates: top {templates.top_n} by volume",
        "",
        trend_line(templates.mann_kendall),
        trend_line(templates.mann_kendall_hamed_rao),
        "",
        *_table(*template_rows(report)),
        "## Prediction latency (ms)",
        "",
        *_table(*latency_rows(report)),
        "## Sample-ratio mismatch by experiment phase (interactions per arm)",
        "",
        *_table(*srm_rows(report)),
    ]
    notes = missing_notes(report)
    if notes:
        lines += ["## Missing figures", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines)


def latency_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["version", "n", "p50", "p90", "p99", "max"]
    rows = [
        [r.model_version, number(r.n), number(r.p50), number(r.p90), number(r.p99), number(r.max)]
        for r in report.latency_ms
    ]
    return header, rows


def srm_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    header = ["experiment", "phase", "observed", "expected share", "chi2", "p", "flag"]
    rows = [
        [
            r.experiment,
            f"{r.phase} from {r.started_at or 'start'}",
            ", ".join(f"{arm} {n}" for arm, n in r.observed.items()),
            ", ".join(f"{arm} {share:g}" for arm, share in r.expected_share.items()) or DASH,
            number(r.chi2),
            significance(r.p),
            "SRM" if r.flag else (r.missing or "ok"),
        ]
        for r in report.srm_by_experiment
    ]
    return header, rows
