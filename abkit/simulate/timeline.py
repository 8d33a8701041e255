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


def challenger_experiment(baseline: str, challenger: str, holdout_weight: float) -> ExperimentConfig:
    """``<challenger>-challenger``: holdout first, then baseline and challenger half each of the rest."""
    half = float((Fraction(1) - Fraction(str(holdout_weight))) / 2)
    name = f"{challenger}-challenger"
    return ExperimentConfig(
        name=name, salt=name, arms=((HOLDOUT, holdout_weight), (baseline, half), (challenger, half))
    )


def build_timeline(settings: WorldSettings) -> tuple[Period, ...]:
    """Periods covering days ``[0, settings.days)`` in order.

    v1 runs in the standing experiment from day 0; each later version is first tested for
    ``challenger_days`` against the version it replaces, then becomes the standing arm.
    """
    versions = settings.versions
    periods: list[Period] = []
    for index, version in enumerate(versions):
        if index:
            previous = versions[index - 1]
            test_start = version.release_day - settings.challenger_days
            periods.append(
                Period(
                    test_start,
                    version.release_day,
                    challenger_experiment(previous.name, version.name, settings.holdout_weight),
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
