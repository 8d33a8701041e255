"""The report's decisions: each version against its holdout, and challengers against baselines.

Every result is made within one experiment (never pooling holdouts of different experiments)
and within its phases (:mod:`abkit.report.arms`); SRM is tested per phase against that phase's
weights. This module arranges groups; the maths is in :mod:`abkit.stats`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from abkit.events.columns import HOLDOUT_ARM
from abkit.report.arms import ArmComparison, PhaseInfo, compare_arms
from abkit.report.groups import ArmGroup, CaseGroup, Groups, Phase, Plan, phase_ends
from abkit.report.model import ComparisonReport, VersionReport
from abkit.report.verdict import decide
from abkit.stats import SrmResult, holm, srm_test, topk_accuracy

SrmTable = dict[tuple[str, int], tuple[datetime | None, SrmResult]]


def srm_by_phase(arms: Sequence[ArmGroup], phases: Sequence[Phase]) -> SrmTable:
    """SRM of each (experiment, phase) with interactions: interactions per arm against the phase's weights."""
    observed: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for g in arms:
        observed[g.experiment, g.phase][g.arm] += g.k
    defined = {(p.experiment, p.phase): p for p in phases}
    table: SrmTable = {}
    for (experiment, number), counts in observed.items():
        phase = defined.get((experiment, number))
        if (
            phase is not None
            and phase.started_at is None
            and HOLDOUT_ARM in phase.weights
            and not set(counts) <= set(phase.weights)
        ):
            # An experiment registered before phases were kept: only its last weights survive, and a
            # standing experiment re-pointed at each release had other version arms before. The
            # holdout's share never moved, so test it against all other arms pooled.
            table[experiment, number] = (None, _holdout_srm(counts, phase.weights[HOLDOUT_ARM]))
            continue
        if phase is not None:
            table[experiment, number] = (phase.started_at, srm_test(dict(counts), phase.weights))
            continue
        reason = f"experiment {experiment} not registered"
        table[experiment, number] = (None, SrmResult(None, None, None, None, dict(counts), {}, reason))
    return table


def _holdout_srm(counts: dict[str, int], holdout_weight: float) -> SrmResult:
    """Holdout interactions against all others pooled, at the holdout's configured weight."""
    pooled = {
        HOLDOUT_ARM: counts.get(HOLDOUT_ARM, 0),
        "treatment": sum(n for arm, n in counts.items() if arm != HOLDOUT_ARM),
    }
    return srm_test(pooled, {HOLDOUT_ARM: holdout_weight, "treatment": 1.0 - holdout_weight})


def _phase_infos(experiment: str, phases: Sequence[Phase], srm: SrmTable) -> dict[int, PhaseInfo]:
    """Every phase of one experiment (0 for an unregistered one) with its SRM."""
    own = sorted((p for p in phases if p.experiment == experiment), key=lambda p: p.phase)
    ends = phase_ends(own)
    infos = {}
    for phase in own:
        ended = ends[experiment, phase.phase]
        untested = SrmResult(None, None, None, None, {}, dict(phase.weights), "no interactions in this phase")
        result = srm.get((experiment, phase.phase), (None, untested))[1]
        infos[phase.phase] = PhaseInfo(phase.phase, phase.started_at, ended, phase.weights, result)
    if not own:  # unregistered: every interaction is in phase 0
        untested = SrmResult(None, None, None, None, {}, {}, "no interactions")
        infos[0] = PhaseInfo(0, None, None, {}, srm.get((experiment, 0), (None, untested))[1])
    return infos


def _by_arm(arms: Sequence[ArmGroup]) -> dict[tuple[str, str, str], list[ArmGroup]]:
    """(experiment, model_version, arm) -> its groups, one per phase."""
    out: dict[tuple[str, str, str], list[ArmGroup]] = defaultdict(list)
    for g in arms:
        out[g.experiment, g.model_version, g.arm].append(g)
    return out


def versions(
    groups: Groups, plan: Plan, phases: Sequence[Phase], srm: SrmTable, min_effect_s: float
) -> tuple[VersionReport, ...]:
    """One row per (experiment, model_version): the version's arm against the holdout it scored there."""
    by_arm = _by_arm(groups.arms)
    pairs = sorted({(experiment, version) for experiment, version, _ in by_arm})
    cases = {(g.experiment, g.model_version): g for g in groups.cases}
    rows = []
    for experiment, version, salt, in_run in _runs_of(pairs, by_arm, phases):
        treated_key, held_key = (experiment, version, version), (experiment, version, HOLDOUT_ARM)
        treated = [g for g in by_arm.get(treated_key, []) if g.phase in in_run]
        held = [g for g in by_arm.get(held_key, []) if g.phase in in_run]
        infos = {p: info for p, info in _phase_infos(experiment, phases, srm).items() if p in in_run}
        comparison = compare_arms(
            treated,
            held,
            (plan.shift_of(treated_key), plan.shift_of(held_key)),
            infos,
            (version, f"holdout of {experiment}"),
        )
        untested = [info.srm.missing for info in infos.values() if info.srm.missing]
        hits = [h for h in groups.hits if h.experiment == experiment and h.model_version == version]
        accuracy = topk_accuracy(*(sum(getattr(h, f) for h in hits) for f in ("top1", "top3", "top5", "n")))
        share, per_case, handle, share_missing = _case_share(cases.get((experiment, version)), comparison)
        own = treated or held
        rows.append(
            VersionReport(
                experiment=experiment,
                salt=salt,
                model_version=version,
                first_seen=min(g.first_seen for g in own),
                last_seen=max(g.last_seen for g in own),
                comparison=comparison,
                holdout_accuracy=accuracy,
                selections_per_case=per_case,
                mean_handle_time_s=handle,
                case_time_saved_share=share,
                case_time_saved_share_missing=share_missing,
                srm_missing=untested[0] if untested else f"no phase where {version} and its holdout both ran",
                verdict=decide(
                    comparison,
                    version,
                    f"the holdout in {experiment}",
                    p=comparison.clustered.p,
                    share_of_case_time=share,
                    min_effect_s=min_effect_s,
                ),
            )
        )
    return tuple(sorted(rows, key=lambda r: (r.first_seen or datetime.max, r.model_version, r.experiment)))


def salt_runs(experiment: str, phases: Sequence[Phase]) -> list[tuple[str | None, frozenset[int]]]:
    """An experiment's phases split where its salt changed: (salt, phase numbers) per run, in order.

    A new salt reshuffles every unit, so it starts a fresh experiment: phases of different runs
    are never combined. An unregistered experiment is one run of phase 0.
    """
    own = sorted((p for p in phases if p.experiment == experiment), key=lambda p: p.phase)
    if not own:
        return [(None, frozenset({0}))]
    runs: list[tuple[str | None, set[int]]] = []
    for phase in own:
        if not runs or runs[-1][0] != phase.salt:
            runs.append((phase.salt, set()))
        runs[-1][1].add(phase.phase)
    return [(salt, frozenset(numbers)) for salt, numbers in runs]


def _runs_of(
    pairs: Sequence[tuple[str, str]], by_arm: dict[tuple[str, str, str], list[ArmGroup]], phases: Sequence[Phase]
) -> list[tuple[str, str, str | None, frozenset[int]]]:
    """(experiment, version, salt, phases) for every salt run in which the version has selections."""
    out = []
    for experiment, version in pairs:
        seen = {g.phase for (e, v, _), gs in by_arm.items() if e == experiment and v == version for g in gs}
        for salt, numbers in salt_runs(experiment, phases):
            if seen & numbers:
                out.append((experiment, version, salt, numbers))
    return out


def _case_share(
    group: CaseGroup | None, comparison: ArmComparison
) -> tuple[float | None, float | None, float | None, str | None]:
    """Share of case handle time saved: saving_s * selections per case / mean handle time."""
    if group is None or group.cases == 0:
        return None, None, None, "no cases with treatment selections"
    per_case = group.selections / group.cases
    handle = group.handle_time_sum / group.cases
    delta_s = comparison.delta.delta_s
    if delta_s is None:
        return None, per_case, handle, f"no saving ({comparison.delta.missing})"
    if handle <= 0:
        return None, per_case, handle, "mean handle time is zero"
    return -delta_s * per_case / handle, per_case, handle, None


def comparisons(
    arms: Sequence[ArmGroup],
    plan: Plan,
    phases: Sequence[Phase],
    srm: SrmTable,
    releases: dict[str, datetime],
    min_effect_s: float,
) -> tuple[ComparisonReport, ...]:
    """Each challenger arm against the arm released first, per challenger experiment, Holm across all.

    A challenger experiment is one where two version arms were randomised side by side: a
    recorded phase weights two or more of them, or (unregistered experiments) two ran in the same
    phase. Every other arm of such an experiment gets a row; where the two never ran in the same
    phase, its figures are null with that reason. A standing experiment re-pointed from one
    version to the next compares nothing: its arms ran one after the other, by design.
    """
    treatment_arms: dict[str, dict[str, list[ArmGroup]]] = defaultdict(lambda: defaultdict(list))
    for g in arms:
        # arms are named after the version they show (DESIGN.md); each arm's own groups
        if g.arm != HOLDOUT_ARM and g.model_version == g.arm:
            treatment_arms[g.experiment][g.arm].append(g)
    first_served: dict[str, datetime] = {}
    for g in arms:
        first_served[g.model_version] = min(g.first_seen, first_served.get(g.model_version, g.first_seen))
    drafts: list[tuple[str, str | None, str, str, ArmComparison]] = []
    for experiment in sorted(treatment_arms):
        arm_groups = treatment_arms[experiment]
        if not _side_by_side(experiment, arm_groups, phases):
            continue
        # registered release times when every arm has one, else when each arm's version first served
        use_registered = all(arm in releases for arm in arm_groups)
        released = {arm: (releases[arm] if use_registered else first_served[arm], arm) for arm in arm_groups}
        baseline, *challengers = sorted(arm_groups, key=released.__getitem__)
        infos = _phase_infos(experiment, phases, srm)
        registered = any(p.experiment == experiment for p in phases)
        for salt, in_run in salt_runs(experiment, phases):
            run = {arm: [g for g in groups if g.phase in in_run] for arm, groups in arm_groups.items()}
            if not run[baseline]:
                continue
            for challenger in challengers:
                if not run[challenger]:
                    continue
                apart = None
                if not registered and not _overlap(run[baseline], run[challenger]):
                    apart = _one_after_the_other(baseline, run[baseline], challenger, run[challenger])
                comparison = compare_arms(
                    run[challenger],
                    run[baseline],
                    (_shift(plan, run[challenger]), _shift(plan, run[baseline])),
                    {p: info for p, info in infos.items() if p in in_run},
                    (challenger, baseline),
                    not_side_by_side=apart,
                )
                drafts.append((experiment, salt, baseline, challenger, comparison))
    adjusted = holm([draft[4].clustered.p for draft in drafts])
    return tuple(
        ComparisonReport(
            experiment,
            baseline,
            challenger,
            comparison,
            p,
            decide(comparison, challenger, f"{baseline} in {experiment}", p=p, min_effect_s=min_effect_s),
            salt=salt,
        )
        for (experiment, salt, baseline, challenger, comparison), p in zip(drafts, adjusted, strict=True)
    )


def _side_by_side(experiment: str, arm_groups: dict[str, list[ArmGroup]], phases: Sequence[Phase]) -> bool:
    """Whether two version arms of the experiment were randomised together at some point.

    Registered: a phase weights two or more version arms. Unregistered (no phases to read): two
    arms served at overlapping times.
    """
    own = [p for p in phases if p.experiment == experiment]
    if own:
        return any(sum(1 for arm, weight in p.arms if arm != HOLDOUT_ARM and weight > 0) >= 2 for p in own)
    names = sorted(arm_groups)
    return any(_overlap(arm_groups[a], arm_groups[b]) for i, a in enumerate(names) for b in names[i + 1 :])


def _overlap(first: list[ArmGroup], second: list[ArmGroup]) -> bool:
    """Whether two arms served at the same time at some point."""
    start = max(min(g.first_seen for g in first), min(g.first_seen for g in second))
    end = min(max(g.last_seen for g in first), max(g.last_seen for g in second))
    return start < end


def _one_after_the_other(baseline: str, first: list[ArmGroup], challenger: str, second: list[ArmGroup]) -> str:
    return (
        f"{baseline} (last {max(g.last_seen for g in first):%Y-%m-%d %H:%M}) and {challenger} "
        f"(first {min(g.first_seen for g in second):%Y-%m-%d %H:%M}) ran one after the other, not side by side"
    )


def _shift(plan: Plan, groups: list[ArmGroup]) -> float:
    g = groups[0]
    return plan.shift_of((g.experiment, g.model_version, g.arm))
