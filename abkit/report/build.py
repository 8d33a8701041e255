"""`build_report`: grouped sufficient statistics from a source, the maths from :mod:`abkit.stats`.

This module only arranges numbers: the scan happens in the source (SQL), every test
statistic comes from :mod:`abkit.stats`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from abkit.events.columns import HOLDOUT_ARM
from abkit.report.groups import (
    ArmGroup,
    CaseGroup,
    DayCount,
    DayGroup,
    HitGroup,
    PredictionDay,
    StatsSource,
    TemplateGroup,
    Totals,
    Window,
)
from abkit.report.model import (
    ArmFigures,
    ComparisonReport,
    ExperimentSrm,
    Release,
    Report,
    TemplateRow,
    TemplateTable,
    VersionReport,
    WeekRow,
)
from abkit.stats import (
    ClusterSummary,
    SampleSummary,
    SrmResult,
    clustered_welch,
    holm,
    mann_kendall,
    mde,
    mean_delta,
    srm_test,
    topk_accuracy,
    welch_test,
)

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
) -> Report:
    """Build the significance report of the events in ``source``.

    Args:
        source: a database URL or engine, a SQLite path, or a directory of Parquet/CSV exports.
        experiment: only this experiment's events (None: all).
        since: only events created at or after this time (UTC; naive means UTC).
        until: only events created before this time.
        top_n: how many templates (by volume) the template table keeps.
        now: the report's ``generated_at`` (defaults to the current UTC time).

    Raises:
        ValueError: ``top_n`` below 1, or ``since`` not before ``until``.
    """
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise ValueError(f"top_n: must be a whole number >= 1, got {top_n!r}")
    window = Window(experiment, _naive_utc(since), _naive_utc(until))
    backend = open_source(source)
    try:
        return _report(backend, window, top_n, now)
    finally:
        if backend is not source:
            # An engine opened here from a URL is ours to dispose: pooled connections would
            # otherwise hold a DuckDB file's lock (and SQLite/PostgreSQL handles) until collected.
            close = getattr(backend, "close", None)
            if close is not None:
                close()


def _report(backend: StatsSource, window: Window, top_n: int, now: datetime | None) -> Report:
    shift = backend.shift(window)
    arms = backend.arm_groups(window, shift)
    hits = backend.hit_groups(window)
    weights = backend.experiment_weights()
    releases = backend.releases()
    days = backend.day_groups(window, shift)
    prediction_days = backend.prediction_days(window)
    srm_by_experiment = _srm_by_experiment(arms, weights)
    versions = _versions(arms, hits, backend.case_groups(window), weights, releases, shift)
    return Report(
        generated_at=now or datetime.now(UTC).replace(tzinfo=None),
        window=window,
        totals=Totals(
            selections=sum(g.n for g in days),
            predictions=sum(g.n for g in prediction_days),
            cases=backend.case_count(window),
        ),
        versions=versions,
        comparisons=_comparisons(arms, releases, weights, shift),
        templates=_templates(backend.template_groups(window, shift), hits, top_n, shift),
        weekly=_weekly(days, shift),
        releases=tuple(
            sorted(
                (Release(v.model_version, v.first_seen, releases.get(v.model_version)) for v in versions),
                key=lambda r: (r.first_seen or datetime.max, r.model_version),
            )
        ),
        daily_events=_daily_events(days, prediction_days),
        latency_ms=tuple(sorted(backend.latency_groups(window), key=lambda g: g.model_version)),
        srm_by_experiment=tuple(ExperimentSrm(name, result) for name, result in sorted(srm_by_experiment.items())),
    )


# -- combining groups ------------------------------------------------------------------------


def _sample(groups: Iterable[ArmGroup], shift: float) -> SampleSummary:
    return sum((SampleSummary(g.n, shift, g.total, g.total_sq) for g in groups), SampleSummary.empty(shift))


def _clusters(groups: Iterable[ArmGroup], shift: float) -> ClusterSummary:
    # Interactions are disjoint across arm groups: each lies in one experiment and arm.
    return sum(
        (ClusterSummary(g.k, g.n, g.total, g.sum_n2, g.sum_y2, g.sum_ny, shift) for g in groups),
        ClusterSummary.empty(shift),
    )


def _first_seen(groups: Iterable[ArmGroup]) -> datetime | None:
    return min((g.first_seen for g in groups), default=None)


def _srm_by_experiment(arms: list[ArmGroup], weights: dict[str, dict[str, float]]) -> dict[str, SrmResult]:
    """SRM of each experiment: interactions (the randomisation unit) per arm against the weights.

    A standing experiment changes its treatment arm at each release (holdout/v1, later
    holdout/v2) while the holdout keeps its range of hash space, so when the observed arms are
    not all registered ones, the test is holdout against all treatment arms pooled, at the
    registered holdout weight.
    """
    observed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g in arms:
        observed[g.experiment][g.arm] += g.k
    results = {}
    for experiment, counts in observed.items():
        registered = weights.get(experiment)
        if registered is None:
            results[experiment] = SrmResult(None, None, None, None, dict(counts), {}, "experiment not registered")
        elif set(counts) <= set(registered) or HOLDOUT_ARM not in registered:
            results[experiment] = srm_test(dict(counts), registered)
        else:
            results[experiment] = _holdout_srm(counts, registered[HOLDOUT_ARM])
    return results


def _holdout_srm(counts: dict[str, int], holdout_weight: float) -> SrmResult:
    """Holdout interactions against all others pooled, at the holdout's configured weight."""
    pooled = {
        HOLDOUT_ARM: counts.get(HOLDOUT_ARM, 0),
        "treatment": sum(n for arm, n in counts.items() if arm != HOLDOUT_ARM),
    }
    return srm_test(pooled, {HOLDOUT_ARM: holdout_weight, "treatment": 1.0 - holdout_weight})


def _version_srm(
    version: str, home: str, groups: list[ArmGroup], weights: dict[str, dict[str, float]]
) -> tuple[SrmResult | None, str | None]:
    """SRM of one version in its home experiment: holdout scored by it against its own arm."""
    registered = weights.get(home)
    if registered is None or HOLDOUT_ARM not in registered:
        return None, f"experiment {home} not registered"
    in_home = [g for g in groups if g.experiment == home]
    held = sum(g.k for g in in_home if g.arm == HOLDOUT_ARM)
    treated = sum(g.k for g in in_home if g.arm == version)
    if held == 0:
        return None, f"no holdout interactions scored by {version} in {home}"
    holdout_weight = registered[HOLDOUT_ARM]
    # An arm no longer registered (a standing experiment since re-pointed) had 1 - holdout.
    version_weight = registered.get(version, 1.0 - holdout_weight)
    return srm_test({HOLDOUT_ARM: held, version: treated}, {HOLDOUT_ARM: holdout_weight, version: version_weight}), None


def _versions(
    arms: list[ArmGroup],
    hits: list[HitGroup],
    cases: list[CaseGroup],
    weights: dict[str, dict[str, float]],
    releases: dict[str, datetime],
    shift: float,
) -> tuple[VersionReport, ...]:
    by_version: dict[str, list[ArmGroup]] = defaultdict(list)
    for g in arms:
        by_version[g.model_version].append(g)
    case_by_version = {g.model_version: g for g in cases}
    reports = []
    for version, groups in by_version.items():
        treated = [g for g in groups if g.arm != HOLDOUT_ARM]
        held = [g for g in groups if g.arm == HOLDOUT_ARM]
        treatment, holdout = _sample(treated, shift), _sample(held, shift)
        labels = ("treatment", "holdout")
        delta = mean_delta(treatment, holdout, labels=labels)
        own_hits = [h for h in hits if h.model_version == version]
        accuracy = topk_accuracy(*(sum(getattr(h, f) for h in own_hits) for f in ("top1", "top3", "top5", "n")))
        home = _home_experiment(treated or held)
        version_srm, version_srm_missing = _version_srm(version, home, groups, weights)
        share, per_case, handle, share_missing = _case_share(case_by_version.get(version), delta.delta_s)
        mde_s, mde_missing = _mde(treatment, holdout)
        reports.append(
            VersionReport(
                model_version=version,
                first_seen=_first_seen(treated or held),
                last_seen=max(g.last_seen for g in (treated or held)),
                treatment=ArmFigures.of(treatment),
                holdout=ArmFigures.of(holdout),
                delta=delta,
                welch=welch_test(treatment, holdout, labels=labels),
                clustered=clustered_welch(_clusters(treated, shift), _clusters(held, shift), labels=labels),
                interactions_treatment=sum(g.k for g in treated),
                interactions_holdout=sum(g.k for g in held),
                holdout_accuracy=accuracy,
                srm_experiment=home,
                srm=version_srm,
                srm_missing=version_srm_missing,
                selections_per_case=per_case,
                mean_handle_time_s=handle,
                case_time_saved_share=share,
                case_time_saved_share_missing=share_missing,
                mde_s=mde_s,
                mde_s_missing=mde_missing,
            )
        )
    return tuple(sorted(reports, key=lambda r: (releases.get(r.model_version) or r.first_seen, r.model_version)))


def _home_experiment(groups: list[ArmGroup]) -> str:
    """The experiment holding most of a version's selections: its SRM is the version's SRM."""
    totals: dict[str, int] = defaultdict(int)
    for g in groups:
        totals[g.experiment] += g.n
    return min(totals, key=lambda name: (-totals[name], name))


def _case_share(
    group: CaseGroup | None, delta_s: float | None
) -> tuple[float | None, float | None, float | None, str | None]:
    """Share of case handle time saved: saving_s * selections per case / mean handle time."""
    if group is None or group.cases == 0:
        return None, None, None, "no cases with treatment selections"
    per_case = group.selections / group.cases
    handle = group.handle_time_sum / group.cases
    if delta_s is None:
        return None, per_case, handle, "no saving (needs treatment and holdout selections)"
    if handle <= 0:
        return None, per_case, handle, "mean handle time is zero"
    return -delta_s * per_case / handle, per_case, handle, None


def _mde(treatment: SampleSummary, holdout: SampleSummary) -> tuple[float | None, str | None]:
    """Minimum detectable saving at 80% power, alpha 0.05, from the pooled selection-level sd."""
    if treatment.n < 2 or holdout.n < 2:
        return None, "needs at least 2 selections in treatment and holdout"
    pooled = (treatment.sum_sq_dev + holdout.sum_sq_dev) / (treatment.n + holdout.n - 2)
    return mde(math.sqrt(pooled), treatment.n, holdout.n), None


def _comparisons(
    arms: list[ArmGroup], releases: dict[str, datetime], weights: dict[str, dict[str, float]], shift: float
) -> tuple[ComparisonReport, ...]:
    """Challenger arms against the arm released first, per experiment, with Holm across all.

    Only arms randomised side by side are compared: the arms a registered experiment lists
    (a standing experiment re-pointed from v1 to v2 compared nothing: its arms ran one after
    the other), or, for an unregistered experiment, arms whose serving windows overlap.
    """
    by_experiment: dict[str, dict[str, list[ArmGroup]]] = defaultdict(lambda: defaultdict(list))
    for g in arms:
        declared = weights.get(g.experiment)
        if g.arm != HOLDOUT_ARM and (declared is None or g.arm in declared):
            by_experiment[g.experiment][g.arm].append(g)
    # A version's first selection in any experiment: a challenger experiment starts its arms
    # together, so which arm answered first there is a race, while the baseline served before it.
    by_version: dict[str, list[ArmGroup]] = defaultdict(list)
    for g in arms:
        by_version[g.model_version].append(g)
    first_served = {version: _first_seen(groups) for version, groups in by_version.items()}
    drafts = []
    for experiment in sorted(by_experiment):
        arm_groups = by_experiment[experiment]
        if len(arm_groups) < 2:
            continue
        # Registered release times when every arm has one, else when each arm's version first served.
        registered = all(arm in releases for arm in arm_groups)

        def released(arm: str, groups: dict[str, list[ArmGroup]] = arm_groups, use: bool = registered) -> tuple:
            return (releases[arm] if use else first_served.get(arm) or _first_seen(groups[arm]), arm)

        baseline, *challengers = sorted(arm_groups, key=released)
        if experiment not in weights:
            challengers = [ch for ch in challengers if _overlap(arm_groups[baseline], arm_groups[ch])]
        base_sample, base_clusters = _sample(arm_groups[baseline], shift), _clusters(arm_groups[baseline], shift)
        for challenger in challengers:
            sample = _sample(arm_groups[challenger], shift)
            labels = (challenger, baseline)
            drafts.append(
                (
                    experiment,
                    baseline,
                    challenger,
                    base_sample,
                    sample,
                    mean_delta(sample, base_sample, labels=labels),
                    welch_test(sample, base_sample, labels=labels),
                    clustered_welch(_clusters(arm_groups[challenger], shift), base_clusters, labels=labels),
                )
            )
    adjusted = holm([draft[6].p for draft in drafts])
    return tuple(
        ComparisonReport(e, b, ch, ArmFigures.of(bs), ArmFigures.of(cs), d, w, cw, p)
        for (e, b, ch, bs, cs, d, w, cw), p in zip(drafts, adjusted, strict=True)
    )


def _overlap(first: list[ArmGroup], second: list[ArmGroup]) -> bool:
    """Whether two arms served at the same time at some point."""
    start = max(_first_seen(first) or datetime.max, _first_seen(second) or datetime.max)
    end = min(max(g.last_seen for g in first), max(g.last_seen for g in second))
    return start < end


def _templates(groups: list[TemplateGroup], hits: list[HitGroup], top_n: int, shift: float) -> TemplateTable:
    samples: dict[str, dict[str, SampleSummary]] = defaultdict(dict)
    for g in groups:
        samples[g.template_id][g.arm_kind] = SampleSummary(g.n, shift, g.total, g.total_sq)
    hit_n: dict[str, int] = defaultdict(int)
    hit_top5: dict[str, int] = defaultdict(int)
    for h in hits:
        hit_n[h.template_id] += h.n
        hit_top5[h.template_id] += h.top5
    empty = SampleSummary.empty(shift)
    rows = []
    for template, kinds in samples.items():
        treatment, holdout = kinds.get("treatment", empty), kinds.get("holdout", empty)
        saving = None
        if treatment.n and holdout.n:
            # holdout mean - treatment mean, from the shifted sums (the shift cancels).
            saving = holdout.total / holdout.n - treatment.total / treatment.n
        rows.append(
            TemplateRow(
                template_id=template,
                volume=treatment.n + holdout.n,
                holdout_n=holdout.n,
                holdout_top5_accuracy=hit_top5[template] / hit_n[template] if hit_n[template] else None,
                treatment_mean_s=treatment.mean,
                holdout_mean_s=holdout.mean,
                saving_s=saving,
            )
        )
    top = sorted(rows, key=lambda r: (-r.volume, r.template_id))[:top_n]
    ordered = sorted(
        (r for r in top if r.holdout_top5_accuracy is not None and r.saving_s is not None),
        key=lambda r: (r.holdout_top5_accuracy, r.template_id),
    )
    savings = [r.saving_s for r in ordered if r.saving_s is not None]
    return TemplateTable(
        top_n=top_n,
        rows=tuple(top),
        mann_kendall=mann_kendall(savings, method="original"),
        mann_kendall_hamed_rao=mann_kendall(savings, method="hamed_rao"),
    )


def _weekly(days: list[DayGroup], shift: float) -> tuple[WeekRow, ...]:
    """ISO weeks (Monday start) by arm kind, rolled up from the daily sums (sums add exactly)."""
    weeks: dict[tuple[date, str], SampleSummary] = defaultdict(lambda: SampleSummary.empty(shift))
    for g in days:
        monday = g.day - timedelta(days=g.day.weekday())
        kind = "holdout" if g.arm == HOLDOUT_ARM else "treatment"
        weeks[monday, kind] = weeks[monday, kind] + SampleSummary(g.n, shift, g.total, g.total_sq)
    return tuple(WeekRow(monday, kind, s.n, s.mean, s.sd) for (monday, kind), s in sorted(weeks.items()))


def _daily_events(days: list[DayGroup], prediction_days: list[PredictionDay]) -> tuple[DayCount, ...]:
    counts: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for g in days:
        counts[g.day, g.experiment, g.arm][0] += g.n
    for p in prediction_days:
        counts[p.day, p.experiment, p.arm][1] += p.n
    return tuple(DayCount(day, experiment, arm, *pair) for (day, experiment, arm), pair in sorted(counts.items()))
