"""Which experiment runs when: the standing holdout, and a challenger test before each release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from abkit.assignment.config import HOLDOUT, ExperimentConfig, standing_experiment
from abkit.simulate.settings import WorldSettings


@dataclass(frozen=True)
class Period:
    """A stretch of days during which one experiment takes all traffic.

    Attributes:
        start_day: first day (inclusive), counted from the world's start.
        end_day: last day (exclusive).
        experiment: the experiment that assigns arms during the period.
        holdout_version: the version that scores (but does not show) the holdout's predictions.
        version_index: index in ``settings.versions`` of each arm, holdout first.
    """

    start_day: int
    end_day: int
    experiment: ExperimentConfig
    holdout_version: str
    version_index: tuple[int, ...]


def challenger_experiment(
    baseline: str, challenger: str, holdout_weight: float, challenger_weight: float | None = None
) -> ExperimentConfig:
    """``<challenger>-challenger``: holdout first, then the baseline and the challenger.

    The challenger gets ``challenger_weight`` (a ramp's first phase) or, by default, half of
    the rest; the baseline what remains. The arm order never changes, so ramping up only moves
    units from the baseline to the challenger and never touches the holdout.
    """
    rest = Fraction(1) - Fraction(str(holdout_weight))
    share = rest / 2 if challenger_weight is None else Fraction(str(challenger_weight))
    name = f"{challenger}-challenger"
    return ExperimentConfig(
        name=name,
        salt=name,
        arms=((HOLDOUT, holdout_weight), (baseline, float(rest - share)), (challenger, float(share))),
    )


def build_timeline(settings: WorldSettings) -> tuple[Period, ...]:
    """Periods covering days ``[0, settings.days)`` in order.

    v1 runs in the standing experiment from day 0; each later version is first tested for
    ``challenger_days`` against the version it replaces, then becomes the standing arm. With
    ``challenger_ramp_days`` a challenger test is two periods: the ramp's weights, then half each.
    """
    versions = settings.versions
    periods: list[Period] = []
    for index, version in enumerate(versions):
        if index:
            previous = versions[index - 1]
            test_start = version.release_day - settings.challenger_days
            full_start = test_start + settings.challenger_ramp_days
            steps: list[tuple[int, float | None]] = []
            if settings.challenger_ramp_days:
                steps.append((test_start, settings.challenger_ramp_weight))
            steps.append((full_start, None))
            ends = [start for start, _ in steps[1:]] + [version.release_day]
            for (start, weight), end in zip(steps, ends, strict=True):
                experiment = challenger_experiment(previous.name, version.name, settings.holdout_weight, weight)
                periods.append(
                    Period(
                        start,
                        end,
                        experiment,
                        holdout_version=previous.name,
                        version_index=(index - 1, index - 1, index),
                    )
                )
        end = versions[index + 1].release_day - settings.challenger_days if index + 1 < len(versions) else settings.days
        standing = standing_experiment(
            version.name, holdout_weight=settings.holdout_weight, salt=settings.standing_salt
        )
        periods.append(
            Period(version.release_day, end, standing, holdout_version=version.name, version_index=(index, index))
        )
    return tuple(periods)


def experiment_phases(
    settings: WorldSettings, periods: tuple[Period, ...]
) -> tuple[tuple[datetime, ExperimentConfig], ...]:
    """Each experiment definition of the timeline with the time it took effect, in time order.

    A period whose experiment has the same definition as that experiment's previous one (none
    in the default timeline) adds nothing: the definition is still in force.
    """
    phases: list[tuple[datetime, ExperimentConfig]] = []
    current: dict[str, ExperimentConfig] = {}
    for period in periods:
        experiment = period.experiment
        if current.get(experiment.name) != experiment:
            phases.append((settings.start + timedelta(days=period.start_day), experiment))
            current[experiment.name] = experiment
    return tuple(phases)


def period_of_day(periods: tuple[Period, ...], day: np.ndarray) -> np.ndarray:
    """Index of the period holding each day (days past the end fall in the last period)."""
    starts = np.array([p.start_day for p in periods])
    return np.searchsorted(starts, day, side="right") - 1


def arm_version_table(periods: tuple[Period, ...]) -> np.ndarray:
    """``[period, arm position]`` -> index of the version that scores that arm (-1: no such arm)."""
    width = max(len(p.version_index) for p in periods)
    table = np.full((len(periods), width), -1, dtype=np.int64)
    for index, period in enumerate(periods):
        table[index, : len(period.version_index)] = period.version_index
    return table


def training_cutoff_day(settings: WorldSettings, version_index: int) -> int:
    """Last day of data a version was trained on: the start of its challenger test (0 for v1)."""
    if version_index == 0:
        return 0
    return settings.versions[version_index].release_day - settings.challenger_days


def release_time(settings: WorldSettings, version_index: int) -> datetime:
    """When a version took all treatment traffic."""
    return settings.start + timedelta(days=settings.versions[version_index].release_day)
