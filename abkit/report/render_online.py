"""The online monitoring table of the Markdown and HTML reports: sequence, CUPED and guardrail per result."""

from __future__ import annotations

from abkit.report.contract import Report
from abkit.report.contract.results import ComparisonResult, VersionResult
from abkit.report.render_markdown import DASH, interval, number, percent, result_name, significance

ONLINE_NOTE = (
    "Always-valid: a 95% confidence sequence and p that may be read at every look (Waudby-Smith et al.); "
    "CUPED: the delta adjusted by each advocate's mean selection time before the experiment (variance "
    "reduction = 1 - adjusted / unadjusted variance); guardrail: mean case handle time, treatment - control. "
    "The analysis column says which figures the verdict read."
)


def online_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the online table; results from before these figures existed are left out."""
    header = [
        "experiment",
        "result",
        "analysis",
        "always-valid CI (s)",
        "always-valid p",
        "CUPED delta (s)",
        "CUPED CI (s)",
        "variance reduction",
        "CUPED always-valid CI (s)",
        "handle time delta (s)",
        "guardrail",
    ]
    results: list[VersionResult | ComparisonResult] = [*report.versions, *report.comparisons]
    rows = []
    for result in results:
        sequential, cuped, guardrail = result.sequential, result.cuped, result.guardrail
        if sequential is None or cuped is None or guardrail is None:
            continue
        worsened = guardrail.worsened
        rows.append(
            [
                result.experiment,
                result_name(result),
                str(result.analysis),
                interval(sequential.delta_ci95_s),
                significance(sequential.p),
                number(cuped.delta_s),
                interval(cuped.delta_ci95_s),
                percent(cuped.variance_reduction),
                interval(cuped.sequential.delta_ci95_s),
                f"{number(guardrail.delta_s)} {interval(guardrail.delta_ci95_s)}",
                DASH if worsened is None else ("worsened" if worsened else "ok"),
            ]
        )
    return header, rows
