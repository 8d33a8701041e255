"""`build_report`: grouped sufficient statistics from a source, the maths from :mod:`abkit.stats`.

This module only arranges numbers: the scan happens in the source (SQL), every test
statistic comes from :mod:`abkit.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from abkit.assignment.config import Analysis
from abkit.report.groups import ArmBounds, Grain, Phase, Plan, StatsSource, Totals, Window, phase_ends
from abkit.report.model import ExperimentSrm, PhaseRow, Release, Report
from abkit.report.online import OnlineGroups, online_context
from abkit.report.online_queries import DEFAULT_PRE_PERIOD_DAYS
from abkit.report.online_verdict import analyses_of, experiment_starts, with_online
from abkit.report.results import comparisons, srm_by_phase, versions
from abkit.report.templates import template_table
from abkit.report.timeline import daily_events, timeline, weekly
from abkit.report.verdict import DEFAULT_MIN_EFFECT_S

DEFAULT_TOP_N = 50


def open_source(source: str | Path | Engine | StatsSource) -> StatsSource:
    """The grouped-statistics backend for ``source``.

    Args:
        source: an engine or database URL (SQL pushdown), a directory of exported event files
            (DuckDB reads them in place), a SQLite file path, or an object that already is a source.
    """
    from abkit.report.files_source import FilesSource
    from abkit.report.sql_source import SqlSource

    if isinstance(source, Engine):
        return SqlSource(source)
    if isinstance(source, str | Path):
        text = str(source)
        if "://" not in text and Path(text).is_dir():
            return FilesSource(Path(text))
        return SqlSource(text)
    return source


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def build_report(
    source: str | Path | Engine | StatsSource,
    experiment: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    top_n: int = DEFAULT_TOP_N,
    *,
    now: datetime | None = None,
    min_effect_s: float = DEFAULT_MIN_EFFECT_S,
    analyses: Mapping[str, Analysis] | None = None,
    pre_period_days: float = DEFAULT_PRE_PERIOD_DAYS,
) -> Report:
    """Build the significance report of the events in ``source``.

    Args:
        source: a database URL or engine, a SQLite path, or a directory of Parquet/CSV exports.
        experiment: only this experiment's events (None: all).
        since: only events created at or after this time (UTC; naive means UTC).
        until: only events created before this time.
        top_n: how many templates (by volume) the template table keeps.
        now: the report's ``generated_at`` (defaults to the current UTC time).
        min_effect_s: the smallest difference in selection time worth acting on (seconds); a test
            that could detect it and found nothing says "no detectable difference".
        analyses: each experiment's declared analysis ("sequential" or "fixed", from the
            experiments file); undeclared: sequential for a challenger test, else fixed.
        pre_period_days: days before an experiment began whose selections make the CUPED covariate.

    Raises:
        ValueError: ``top_n`` below 1, or ``since`` not before ``until``.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise ValueError(f"top_n: must be a whole number >= 1, got {top_n!r}")
    if isinstance(min_effect_s, bool) or not isinstance(min_effect_s, int | float) or not 0 < min_effect_s < math.inf:
        raise ValueError(f"min_effect_s: must be a positive number of seconds, got {min_effect_s!r}")
    window = Window(experiment, _naive_utc(since), _naive_utc(until))
    backend = open_source(source)
    try:
        return _report(backend, window, top_n, now, min_effect_s, (analyses, pre_period_days))
    finally:
        if backend is not source:
            # An engine opened here from a URL is ours to dispose: pooled connections would
            # otherwise hold a DuckDB file's lock (and SQLite/PostgreSQL handles) until collected.
            close = getattr(backend, "close", None)
            if close is not None:
                close()


# Spans up to this long are drawn by the hour (a walkthrough's minutes), longer ones by the day.
HOURLY_SPAN = timedelta(days=3)


def plan_for(bounds: list[ArmBounds], phases: tuple[Phase, ...]) -> Plan:
    """Each arm's shift (its smallest selection time), the phases and the time grain of the buckets."""
    shifts = tuple(sorted((b.key, b.low) for b in bounds))
    grain: Grain = "day"
    if bounds:
        span = max(b.last_seen for b in bounds) - min(b.first_seen for b in bounds)
        grain = "hour" if span <= HOURLY_SPAN else "day"
    return Plan(shifts=shifts, phases=phases, grain=grain)


def _report(
    backend: StatsSource,
    window: Window,
    top_n: int,
    now: datetime | None,
    min_effect_s: float,
    online: tuple[Mapping[str, Analysis] | None, float],
) -> Report:
    phases = tuple(backend.experiment_phases())
    releases = backend.releases()
    declared, pre_period_days = online
    # A source that can scan the window once answers every question from that scan.
    open_scan = getattr(backend, "scan", None)
    with open_scan(window) if open_scan is not None else nullcontext(backend) as scanned:
        bounds = scanned.bounds(window)
        plan = plan_for(bounds, phases)
        groups = scanned.groups(window, plan)
        # sequential, CUPED and guardrail figures, and the verdict under each experiment's analysis
        read_online = getattr(scanned, "online_groups", None)
        extra = (
            read_online(window, plan, experiment_starts(phases, bounds), pre_period_days)
            if read_online is not None
            else OnlineGroups([], [], pre_period_days)
        )
    srm = srm_by_phase(groups.arms, phases)
    context = online_context(groups.arms, extra, plan, analyses_of(declared, phases, groups.arms))
    version_rows, comparison_rows = with_online(
        versions(groups, plan, phases, srm, min_effect_s),
        comparisons(groups.arms, plan, phases, srm, releases, min_effect_s),
        context,
        min_effect_s,
    )
    first_seen: dict[str, datetime] = {}
    for row in version_rows:
        if row.first_seen is not None:
            first_seen[row.model_version] = min(row.first_seen, first_seen.get(row.model_version, row.first_seen))
    return Report(
        generated_at=now or datetime.now(UTC).replace(tzinfo=None),
        window=window,
        totals=Totals(
            selections=sum(g.n for g in groups.buckets),
            predictions=sum(g.n for g in groups.prediction_days),
            cases=groups.case_count,
        ),
        versions=version_rows,
        comparisons=comparison_rows,
        templates=template_table(groups.templates, groups.hits, top_n, plan),
        weekly=weekly(groups.buckets, plan),
        timeline=timeline(groups.buckets, plan),
        phases=_phase_rows(phases),
        releases=tuple(
            sorted(
                (Release(v, seen, releases.get(v)) for v, seen in first_seen.items()),
                key=lambda r: (r.first_seen or datetime.max, r.model_version),
            )
        ),
        daily_events=daily_events(groups.buckets, groups.prediction_days),
        latency_ms=tuple(sorted(groups.latency, key=lambda g: g.model_version)),
        srm_by_experiment=tuple(
            ExperimentSrm(experiment, phase, started_at, result)
            for (experiment, phase), (started_at, result) in sorted(srm.items())
        ),
    )


def _phase_rows(phases: tuple[Phase, ...]) -> tuple[PhaseRow, ...]:
    ends = phase_ends(phases)
    return tuple(
        PhaseRow(p.experiment, p.phase, p.salt, p.arms, p.started_at, ends[p.experiment, p.phase])
        for p in sorted(phases, key=lambda p: (p.experiment, p.phase))
    )
