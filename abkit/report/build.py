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
from abkit.report.contract.base import iso
from abkit.report.contract.report import (
    SCHEMA_VERSION,
    ExperimentSrm,
    Latency,
    PhaseRow,
    Release,
    Report,
    Totals,
)
from abkit.report.contract.report import Window as WindowFigures
from abkit.report.groups import ArmBounds, Grain, Phase, Plan, StatsSource, Window, phase_ends
from abkit.report.online import OnlineGroups, online_context
from abkit.report.online_queries import DEFAULT_PRE_PERIOD_DAYS
from abkit.report.online_verdict import analyses_of, experiment_starts, with_online
from abkit.report.power import DEFAULT_POWER_DAYS, recent_window, running_power
from abkit.report.publish import comparison_result, srm_fields, version_result
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
    power_days: float = DEFAULT_POWER_DAYS,
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
        power_days: days of the latest traffic that measure each running experiment's power.

    Raises:
        ValueError: ``top_n`` below 1, ``since`` not before ``until``, or a number of days out of range.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise ValueError(f"top_n: must be a whole number >= 1, got {top_n!r}")
    if isinstance(min_effect_s, bool) or not isinstance(min_effect_s, int | float) or not 0 < min_effect_s < math.inf:
        raise ValueError(f"min_effect_s: must be a positive number of seconds, got {min_effect_s!r}")
    for name, days in (("pre_period_days", pre_period_days), ("power_days", power_days)):
        # a timedelta holds at most 999,999,999 days; a longer pre-period would not reach further back anyway
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= timedelta.max.days:
            raise ValueError(
                f"{name}: must be a number of days above 0 and at most {timedelta.max.days:,}, got {days!r}"
            )
    window = Window(experiment, _naive_utc(since), _naive_utc(until))
    backend = open_source(source)
    try:
        return _report(backend, window, top_n, now, min_effect_s, (analyses, pre_period_days, power_days))
    finally:
        if backend is not source:
            # An engine opened here from a URL is ours to dispose: pooled connections would
            # otherwise hold a DuckDB file's lock (and SQLite/PostgreSQL handles) until collected.
            close = getattr(backend, "close", None)
            if close is not None:
                close()


def unknown_experiment(source: str | Path | Engine | StatsSource, report: Report) -> str | None:
    """Why the experiment ``report`` was built for names nothing in ``source``; None when it does.

    An experiment is known when it is registered or named by any event, inside the report's window
    or not. Only an empty report asks the source (the few events' experiments, any time).
    """
    name = report.experiment
    if name is None or report.totals.selections or report.totals.predictions:
        return None
    registered = {phase.experiment for phase in report.phases}
    if name in registered:
        return None
    backend = open_source(source)
    try:
        named = getattr(backend, "event_experiments", None)
        seen = named() if named is not None else set()
    finally:
        close = getattr(backend, "close", None)
        if backend is not source and close is not None:
            close()
    if name in seen:
        return None
    listed = ", ".join(sorted(registered | seen)) or "no experiments"
    return f"unknown experiment {name!r}: not registered and in no event; the event store has {listed}"


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
    online: tuple[Mapping[str, Analysis] | None, float, float],
) -> Report:
    phases = tuple(backend.experiment_phases())
    releases = backend.releases()
    declared, pre_period_days, power_days = online
    # A source that can scan the window once answers every question from that scan.
    open_scan = getattr(backend, "scan", None)
    with open_scan(window) if open_scan is not None else nullcontext(backend) as scanned:
        bounds = scanned.bounds(window)
        plan = plan_for(bounds, phases)
        # sequential, CUPED and guardrail figures, and the verdict under each experiment's analysis
        # (read first: a scan rolls the arm groups up from the online grain groups)
        starts = experiment_starts(phases, bounds)
        read_online = getattr(scanned, "online_groups", None)
        extra = (
            read_online(window, plan, starts, pre_period_days)
            if read_online is not None
            else OnlineGroups([], [], pre_period_days)
        )
        groups = scanned.groups(window, plan)
        # each running experiment's power over its latest traffic, for the report's smallest saving worth acting on
        read_power = getattr(scanned, "power_groups", None)
        recent = recent_window(bounds, window, power_days)
        power_groups = (
            read_power(recent, plan, starts, pre_period_days) if read_power is not None and recent is not None else None
        )
    srm = srm_by_phase(groups.arms, phases)
    analyses = analyses_of(declared, phases, groups.arms)
    context = online_context(groups.arms, extra, plan, analyses)
    version_rows, comparison_rows = with_online(
        versions(groups, plan, phases, srm, min_effect_s),
        comparisons(groups.arms, plan, phases, srm, releases, min_effect_s),
        context,
        min_effect_s,
    )
    power = () if power_groups is None else running_power(power_groups, phases, analyses, min_effect_s, pre_period_days)
    first_seen: dict[str, datetime] = {}
    for row in version_rows:
        if row.first_seen is not None:
            first_seen[row.model_version] = min(row.first_seen, first_seen.get(row.model_version, row.first_seen))
    generated_at = now or datetime.now(UTC).replace(tzinfo=None)
    return Report(
        schema_version=SCHEMA_VERSION,
        generated_at=generated_at.replace(microsecond=0).isoformat() + "Z",
        experiment=window.experiment,
        window=WindowFigures(since=iso(window.since), until=iso(window.until)),
        totals=Totals(
            selections=sum(g.n for g in groups.buckets),
            predictions=sum(g.n for g in groups.prediction_days),
            cases=groups.case_count,
        ),
        versions=tuple(version_result(row) for row in version_rows),
        comparisons=tuple(comparison_result(row) for row in comparison_rows),
        templates=template_table(groups.templates, groups.hits, top_n, plan),
        weekly=weekly(groups.buckets, plan),
        timeline=timeline(groups.buckets, plan),
        phases=_phase_rows(phases),
        releases=_releases(first_seen, releases),
        daily_events=daily_events(groups.buckets, groups.prediction_days),
        latency_ms=tuple(
            Latency(model_version=g.model_version, n=g.n, p50=g.p50, p90=g.p90, p99=g.p99, max=g.max)
            for g in sorted(groups.latency, key=lambda g: g.model_version)
        ),
        srm_by_experiment=tuple(
            ExperimentSrm(experiment=experiment, phase=phase, started_at=iso(started_at), **srm_fields(result))
            for (experiment, phase), (started_at, result) in sorted(srm.items())
        ),
        power=tuple(plan.published() for plan in power),
    )


def _releases(first_seen: Mapping[str, datetime], released: Mapping[str, datetime]) -> tuple[Release, ...]:
    """Each served version's first event and registered release time, in order of first event."""
    return tuple(
        Release(model_version=version, first_seen=iso(seen), released_at=iso(released.get(version)))
        for version, seen in sorted(first_seen.items(), key=lambda item: (item[1], item[0]))
    )


def _phase_rows(phases: tuple[Phase, ...]) -> tuple[PhaseRow, ...]:
    ends = phase_ends(phases)
    return tuple(
        PhaseRow(
            experiment=p.experiment,
            phase=p.phase,
            salt=p.salt,
            arms=dict(p.arms),
            started_at=iso(p.started_at),
            ended_at=iso(ends[p.experiment, p.phase]),
        )
        for p in sorted(phases, key=lambda p: (p.experiment, p.phase))
    )
