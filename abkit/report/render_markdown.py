"""Markdown (and shared plain-text formatting) of a report dict (docs/report-schema.md).

Renderers take the JSON form, so a stored snapshot renders exactly like a fresh report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

DASH = "—"


def render_json(report: Mapping[str, Any]) -> str:
    """The report as strict JSON (no NaN or Infinity), indented."""
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


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


def verdict_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the verdicts: what to do about each version and comparison, and why."""
    header = ["experiment", "result", "decision", "why"]
    rows = [[v.get("experiment") or DASH, f"{v['model_version']} vs holdout", *_verdict(v)] for v in report["versions"]]
    rows += [[c["experiment"], f"{c['challenger']} vs {c['baseline']}", *_verdict(c)] for c in report["comparisons"]]
    return header, rows


def _verdict(result: Mapping[str, Any]) -> list[str]:
    """Decision and reason; a snapshot stored before verdicts existed (schema 1) has none."""
    verdict = result.get("verdict")
    if not verdict:
        return [DASH, "no verdict in this snapshot (schema 1): run the report again"]
    return [verdict["decision"], verdict["reason"]]


def version_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
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
    for v in report["versions"]:
        acc = v["holdout_accuracy"]
        srm = v.get("srm") or {}
        clustered = v["clustered"] or {}
        rows.append(
            [
                v.get("experiment") or DASH,
                v["model_version"],
                number(v["treatment"]["n"]),
                number(v["holdout"]["n"]),
                f"{number(clustered.get('interactions_treatment'))} / {number(clustered.get('interactions_control'))}",
                number(v["treatment"]["mean_s"]),
                number(v["holdout"]["mean_s"]),
                number(v["saving_s"]),
                interval(clustered.get("delta_ci95_s")),
                number(clustered.get("delta_pct")),
                significance(clustered.get("p")),
                significance(_p_of(v["welch"])),
                interval(v["delta_ci95_s"]),
                " / ".join(percent((acc or {}).get(k)) for k in ("top1", "top3", "top5")),
                significance(srm.get("p")) + (" SRM!" if srm.get("flag") else ""),
                percent(v["case_time_saved_share"]),
                number(v["mde_s"]),
            ]
        )
    return header, rows


def _p_of(test: Mapping[str, Any] | None) -> float | None:
    """The p of a test object, which the contract allows to be null as a whole."""
    return (test or {}).get("p")


def comparison_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["experiment", "baseline", "challenger", "n baseline", "n challenger", "delta s", "delta 95% CI s"]
    header += ["delta %", "p", "Holm p", "Welch p (selection)", "Welch CI s (selection)"]
    rows = []
    for c in report["comparisons"]:
        clustered = c["clustered"] or {}
        rows.append(
            [
                c["experiment"],
                c["baseline"],
                c["challenger"],
                number(c["baseline_summary"]["n"]),
                number(c["challenger_summary"]["n"]),
                number(clustered.get("delta_s")),
                interval(clustered.get("delta_ci95_s")),
                number(clustered.get("delta_pct")),
                significance(clustered.get("p")),
                significance(c["p_holm"]),
                significance(_p_of(c["welch"])),
                interval(c["delta_ci95_s"]),
            ]
        )
    return header, rows


def template_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["template", "volume", "holdout n", "holdout top-5", "treatment mean s", "holdout mean s", "saving s"]
    rows = [
        [
            r["template_id"],
            number(r["volume"]),
            number(r["holdout_n"]),
            percent(r["holdout_top5_accuracy"]),
            number(r["treatment_mean_s"]),
            number(r["holdout_mean_s"]),
            number(r["saving_s"]),
        ]
        for r in report["templates"]["rows"]
    ]
    return header, rows


def trend_line(trend: Mapping[str, Any]) -> str:
    """One sentence on a Mann-Kendall result."""
    if trend.get("missing"):
        return f"Mann-Kendall ({trend['method']}): not computed ({trend['missing']})."
    return (
        f"Mann-Kendall ({trend['method']}): {trend['trend']}, tau = {number(trend['tau'])}, "
        f"S = {number(trend['s'])}, z = {number(trend['z'])}, p = {number(trend['p'])}, "
        f"Sen slope = {number(trend['sen_slope'])} s per rank."
    )


def missing_notes(report: Mapping[str, Any]) -> list[str]:
    """Why figures are missing, one line per version or comparison that has any."""
    notes = []
    for item in [*report["versions"], *report["comparisons"]]:
        name = (
            f"{item['model_version']} ({item.get('experiment') or DASH})"
            if "model_version" in item
            else f"{item['challenger']} vs {item['baseline']} ({item['experiment']})"
        )
        reasons = sorted({str(v) for k, v in item.items() if k.endswith("_missing")})
        reasons += sorted({f"{k}: {v['missing']}" for k, v in item.items() if isinstance(v, dict) and v.get("missing")})
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


def _online_section(report: Mapping[str, Any]) -> list[str]:
    """Sequential, CUPED and guardrail figures (abkit.report.render_online); none in older snapshots."""
    from abkit.report.render_online import ONLINE_NOTE, online_rows

    header, rows = online_rows(report)
    if not rows:
        return []
    return ["## Online monitoring: always-valid, CUPED and guardrail", "", *_table(header, rows), ONLINE_NOTE, ""]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: verdicts, versions, comparisons, templates, latency, SRM."""
    window = report["window"]
    totals = report["totals"]
    lines = [
        "# abkit significance report",
        "",
        f"Generated {report['generated_at']}; experiment: {report['experiment'] or 'all'}; "
        f"window: {window['since'] or 'start'} to {window['until'] or 'now'}.",
        f"Events: {number(totals['selections'])} selections, {number(totals['predictions'])} predictions, "
        f"{number(totals['cases'])} cases.",
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
        f"## Templates: top {report['templates']['top_n']} by volume",
        "",
        trend_line(report["templates"]["mann_kendall"]),
        trend_line(report["templates"]["mann_kendall_hamed_rao"]),
        "",
        *_table(*template_rows(report)),
        "## Prediction latency (ms)",
        "",
        *_table(
            ["version", "n", "p50", "p90", "p99", "max"],
            [
                [
                    r["model_version"],
                    number(r["n"]),
                    number(r["p50"]),
                    number(r["p90"]),
                    number(r["p99"]),
                    number(r["max"]),
                ]
                for r in report["latency_ms"]
            ],
        ),
        "## Sample-ratio mismatch by experiment phase (interactions per arm)",
        "",
        *_table(
            ["experiment", "phase", "observed", "expected share", "chi2", "p", "flag"],
            [
                [
                    r["experiment"],
                    f"{r.get('phase', DASH)} from {r.get('started_at') or 'start'}",
                    ", ".join(f"{arm} {n}" for arm, n in r["observed"].items()),
                    ", ".join(f"{arm} {share:g}" for arm, share in r["expected_share"].items()) or DASH,
                    number(r["chi2"]),
                    significance(r["p"]),
                    "SRM" if r["flag"] else (r["missing"] or "ok"),
                ]
                for r in report["srm_by_experiment"]
            ],
        ),
    ]
    notes = missing_notes(report)
    if notes:
        lines += ["## Missing figures", "", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines)
