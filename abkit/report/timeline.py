"""Selection time over time: daily event counts, ISO weeks and a timeline at a grain fit for the span.

All three are roll-ups of the bucket groups (hours or days), so one scan of the selections
serves them; sums about different arms' shifts add exactly (``SampleSummary.__add__``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from abkit.events.columns import HOLDOUT_ARM
from abkit.report.contract.base import figure
from abkit.report.contract.report import DayCount, Timeline, TimelineGrain, TimeRow, WeekRow
from abkit.report.groups import ArmKind, BucketGroup, Plan, PredictionDay
from abkit.stats import SampleSummary

# Spans longer than this are drawn by the week, shorter ones at the buckets' grain (hour or day).
WEEKLY_SPAN = timedelta(days=120)


def _kind(arm: str) -> ArmKind:
    return "holdout" if arm == HOLDOUT_ARM else "treatment"


def _summary(g: BucketGroup, plan: Plan) -> SampleSummary:
    return SampleSummary(g.n, plan.shift_of((g.experiment, g.model_version, g.arm)), g.total, g.total_sq)


def _figures(summary: SampleSummary) -> dict[str, Any]:
    """n, mean, sd and the 95% interval of the mean of one bucket's selection times."""
    return {
        "n": summary.n,
        "mean_s": summary.mean,
        "sd_s": summary.sd,
        **figure("mean_ci95_s", summary.mean_ci(), "needs at least 2 selections"),
    }


def _monday(moment: datetime | date) -> date:
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def _roll_up(
    groups: Sequence[BucketGroup], plan: Plan, start_of: Callable[[datetime], datetime | date]
) -> dict[tuple[datetime | date, ArmKind], SampleSummary]:
    rolled: dict[tuple[datetime | date, ArmKind], SampleSummary] = {}
    for g in groups:
        key = (start_of(g.start), _kind(g.arm))
        summary = _summary(g, plan)
        rolled[key] = summary if key not in rolled else rolled[key] + summary
    return rolled


def weekly(groups: Sequence[BucketGroup], plan: Plan) -> tuple[WeekRow, ...]:
    """ISO weeks (Monday start) by arm kind."""
    rolled = _roll_up(groups, plan, _monday)
    return tuple(
        WeekRow(week_start=monday.isoformat(), arm_kind=kind, **_figures(s))
        for (monday, kind), s in sorted(rolled.items())
    )


# Length of one bucket of each display grain: a sequence point is "as of" its bucket's end.
GRAIN_LENGTH: dict[TimelineGrain, timedelta] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}


def display_grain(starts: Sequence[datetime], plan: Plan) -> tuple[TimelineGrain, Callable[[datetime], datetime]]:
    """The timeline's grain for buckets starting at ``starts``, and the start of a bucket's display bucket.

    Hours for a span of up to three days (the plan's grain), days up to 120 days, ISO weeks beyond.
    """
    if starts and plan.grain == "day" and max(starts) - min(starts) > WEEKLY_SPAN:
        return "week", lambda moment: datetime.combine(_monday(moment), datetime.min.time())
    return plan.grain, lambda moment: moment


def timeline(groups: Sequence[BucketGroup], plan: Plan) -> Timeline:
    """Hours for a span of up to three days, days up to 120 days, weeks beyond (by arm kind)."""
    if not groups:
        return Timeline(grain=plan.grain, rows=())
    grain, start_of = display_grain([g.start for g in groups], plan)
    rolled = _roll_up(groups, plan, start_of)
    rows = tuple(
        TimeRow(start=start.isoformat(), arm_kind=kind, **_figures(s)) for (start, kind), s in sorted(rolled.items())
    )
    return Timeline(grain=grain, rows=rows)


def daily_events(groups: Sequence[BucketGroup], prediction_days: Sequence[PredictionDay]) -> tuple[DayCount, ...]:
    """Selections and predictions per UTC day, experiment and arm."""
    counts: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for g in groups:
        counts[g.start.date(), g.experiment, g.arm][0] += g.n
    for p in prediction_days:
        counts[p.day, p.experiment, p.arm][1] += p.n
    return tuple(
        DayCount(day=day.isoformat(), experiment=experiment, arm=arm, selections=pair[0], predictions=pair[1])
        for (day, experiment, arm), pair in sorted(counts.items())
    )
