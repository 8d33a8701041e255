"""The computed results of a report, before publication: each carries the arms' figures the maths needs.

:mod:`abkit.report.publish` turns them into the published contract (:mod:`abkit.report.contract`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from abkit.report.arms import ArmComparison
from abkit.report.online import OnlineFigures
from abkit.report.verdict import Verdict
from abkit.stats import TopKAccuracy


@dataclass(frozen=True)
class VersionReport:
    """One model version in one experiment: its treatment (suggestions shown) against that experiment's holdout."""

    experiment: str
    model_version: str
    first_seen: datetime | None
    last_seen: datetime | None
    comparison: ArmComparison
    holdout_accuracy: TopKAccuracy
    selections_per_case: float | None
    mean_handle_time_s: float | None
    case_time_saved_share: float | None
    case_time_saved_share_missing: str | None
    verdict: Verdict
    srm_missing: str | None = None  # why no phase of the experiment could be tested, if none could
    salt: str | None = None  # the salt run compared (a new salt starts a fresh experiment); None: unregistered
    online: OnlineFigures | None = None  # sequential, CUPED and guardrail (abkit.report.online)


@dataclass(frozen=True)
class ComparisonReport:
    """A challenger arm against the baseline arm (released first) of one experiment."""

    experiment: str
    baseline: str
    challenger: str
    comparison: ArmComparison
    p_holm: float | None
    verdict: Verdict
    online: OnlineFigures | None = None  # sequential, CUPED and guardrail (abkit.report.online)
    salt: str | None = None  # the salt run compared (a new salt starts a fresh experiment)
