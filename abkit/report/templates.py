"""The template table: top N templates by volume, holdout accuracy against time saved, and its trend."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from abkit.events.columns import HOLDOUT_ARM
from abkit.report.contract.base import figure
from abkit.report.contract.report import TemplateRow, TemplateTable, TemplateTrend
from abkit.report.groups import HitGroup, Plan, TemplateGroup
from abkit.report.publish import trend_figures
from abkit.stats import SampleSummary, mann_kendall, mean_delta

# The top-N views a reader may take of the templates (the dashboard offers these): the report tests
# the trend over each, so no reader has to test it again.
TREND_TOP_N = (5, 10, 20, 50, 100)


def template_table(groups: Sequence[TemplateGroup], hits: Sequence[HitGroup], top_n: int, plan: Plan) -> TemplateTable:
    """Top ``top_n`` templates by volume; Mann-Kendall of savings ordered by holdout top-5 accuracy.

    Each row rolls up its (experiment, version, arm) groups exactly (sums about different
    shifts re-centre in ``SampleSummary.__add__``). The saving is holdout mean - treatment mean
    with a selection-level Welch CI (templates are not randomised, so this describes, it does
    not decide).
    """
    samples: dict[str, dict[str, SampleSummary]] = defaultdict(dict)
    for g in groups:
        kind = "holdout" if g.arm == HOLDOUT_ARM else "treatment"
        summary = SampleSummary(g.n, plan.shift_of((g.experiment, g.model_version, g.arm)), g.total, g.total_sq)
        current = samples[g.template_id].get(kind)
        samples[g.template_id][kind] = summary if current is None else current + summary
    hit_n: dict[str, int] = defaultdict(int)
    hit_top5: dict[str, int] = defaultdict(int)
    for h in hits:
        hit_n[h.template_id] += h.n
        hit_top5[h.template_id] += h.top5
    empty = SampleSummary.empty()
    volume = {template: sum(summary.n for summary in kinds.values()) for template, kinds in samples.items()}
    # Only the top N are kept: each of the others would cost a Welch test for nothing (hundreds of templates).
    rows = []
    for template in sorted(samples, key=lambda t: (-volume[t], t))[:top_n]:
        kinds = samples[template]
        treatment, holdout = kinds.get("treatment", empty), kinds.get("holdout", empty)
        saving = mean_delta(holdout, treatment, labels=("holdout", "treatment"))
        rows.append(
            TemplateRow(
                template_id=template,
                volume=treatment.n + holdout.n,
                holdout_n=holdout.n,
                treatment_n=treatment.n,
                **figure(
                    "holdout_top5_accuracy",
                    hit_top5[template] / hit_n[template] if hit_n[template] else None,
                    "no holdout selections with a prediction",
                ),
                **figure("treatment_mean_s", treatment.mean, "no treatment selections"),
                **figure("holdout_mean_s", holdout.mean, "no holdout selections"),
                **figure("saving_s", saving.delta_s, "needs treatment and holdout selections"),
                **figure("saving_ci95_s", saving.ci95_s, saving.missing),
            )
        )
    top = tuple(rows)
    trends = template_trends(top, top_n)
    return TemplateTable(
        top_n=top_n,
        rows=top,
        mann_kendall=trends[-1].mann_kendall,
        mann_kendall_hamed_rao=trends[-1].mann_kendall_hamed_rao,
        trends=trends,
    )


def template_trends(rows: Sequence[TemplateRow], top_n: int) -> tuple[TemplateTrend, ...]:
    """Mann-Kendall of savings ordered by holdout top-5 accuracy over the top N templates by volume,
    for each N of :data:`TREND_TOP_N` below ``top_n`` and for ``top_n`` itself (last).

    Args:
        rows: The templates, largest volume first (ties by id), as the table keeps them.
        top_n: The table's N.
    """
    trends = []
    for n in [*(n for n in TREND_TOP_N if n < top_n), top_n]:
        drawn = sorted(
            (r for r in rows[:n] if r.holdout_top5_accuracy is not None and r.saving_s is not None),
            key=lambda r: (r.holdout_top5_accuracy or 0.0, r.template_id),
        )
        savings = [r.saving_s for r in drawn if r.saving_s is not None]
        trends.append(
            TemplateTrend(
                top_n=n,
                templates=len(savings),
                mann_kendall=trend_figures(mann_kendall(savings, method="original")),
                mann_kendall_hamed_rao=trend_figures(mann_kendall(savings, method="hamed_rao")),
            )
        )
    return tuple(trends)
