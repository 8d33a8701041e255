"""Parameters of the synthetic support world, with the reason for each default.

Figures to reproduce in shape come from DESIGN.md ("The real system this follows").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from abkit.settings import settings

SCALES: dict[str, int] = {
    "small": 20_000,  # seconds; for tests and quick looks
    "default": 200_000,  # the demo: enough for every test in the report to have power
    "bench": 10_000_000,  # benchmarks of the stats queries and ingestion
}

# The label set size of `abkit train demo-model` (abkit.training.demo.DEMO_TEMPLATES, kept equal by a test;
# not imported, because that module loads torch). The live driver's catalogue depends on it, so both sides
# must agree. Here, not in abkit.simulate.live, so that `abkit simulate` runs without httpx (the serve extra).
DEMO_TEMPLATES = 40


@dataclass(frozen=True)
class TextSettings:
    """How customers word their requests (what makes the classifier's task hard or easy)."""

    object_mention: float = 0.75  # P(the customer names the object); else a pronoun
    action_mention: float = 0.7  # P(the customer names the action); else a vague verb
    detail_mention: float = 0.4  # P(each of the template's two detail words shows up)
    confusion: float = 0.25  # P(a sentence about another object/action, a distractor)
    page_hint: float = 0.5  # P(the system message names the page matching the object)
    follow_up: float = 0.35  # P(the customer adds a detail before the reply)
    small_talk: float = 0.5  # P(an unlabelled advocate message before the first reply)
    max_fillers: int = 2  # shared filler sentences per customer message: 0..max


@dataclass(frozen=True)
class VersionSpec:
    """One model version of the world."""

    name: str  # arm and model_version, e.g. "v2"
    base_model: str  # recorded in model_versions
    release_day: int  # day (from the start) the version takes all treatment traffic
    top5_accuracy: float  # volume-weighted online top-5 accuracy the version is calibrated to
    extra_saving_s: float  # saving beyond accuracy (better ranking, UI): successive versions cut time


DEFAULT_VERSIONS: tuple[VersionSpec, ...] = (
    # Offline figures (DESIGN): top-5 75.0 / 78.9 / 80.3%; online a little lower for the first.
    VersionSpec("v1", "pythia-410m-deduped", 0, 0.72, 0.0),
    VersionSpec("v2", "pythia-1.4b-deduped", 74, 0.75, 0.25),
    VersionSpec("v3", "pythia-1.4b-deduped+adapted", 154, 0.78, 0.35),
    # v3 vs v4: about -0.7 s in DESIGN, so v4 gets a larger extra saving on top of accuracy.
    VersionSpec("v4", "pythia-2.8b-deduped+adapted", 234, 0.80, 0.85),
)


@settings
class WorldSettings:
    """Everything that shapes the simulated world; ``replace(settings, ...)`` to vary it."""

    n_selections: Annotated[int, Field(ge=1)] = SCALES["default"]  # target number of template selections (about)
    start: datetime = datetime(2026, 1, 5)  # a Monday; day 0 of the world
    days: Annotated[int, Field(ge=1)] = 300  # v1 at day 0, then a release about every 80 days
    n_templates: int = 640  # as the real classifier's label set
    zipf_exponent: float = 1.0  # volume of the template at rank r is proportional to r ** -s
    introduced_share: float = 0.1  # templates that appear after day 0 (new products, policies)
    deprecated_share: float = 0.08  # templates retired before the end
    n_advocates: Annotated[int, Field(ge=2)] = 400  # a transfer goes to another advocate
    transfer_probability: float = 0.1  # cases handed to a second advocate (a second unit)
    extra_selections_mean: float = 1.6  # selections per interaction = 1 + Poisson(1.6): 2.6 on average
    weekend_volume: float = 0.4  # weekend days get 40% of a weekday's cases
    versions: Annotated[tuple[VersionSpec, ...], Field(min_length=1)] = DEFAULT_VERSIONS
    challenger_days: int = 14  # each release is preceded by a two-week challenger test
    # A challenger test may start small: for its first challenger_ramp_days days the challenger
    # gets challenger_ramp_weight and the baseline the rest (0.02 / 0.10 / 0.88), then half each
    # (0.02 / 0.49 / 0.49). 0: no ramp, half each from the first day (the figures below).
    challenger_ramp_days: int = 0
    challenger_ramp_weight: float = 0.10
    holdout_weight: Annotated[float, Field(gt=0, lt=1)] = 0.02  # the standing 2% holdout (and the challengers' holdout)
    standing_salt: str = "standing"
    # Model quality: P(template known) = sigmoid(alpha_v + accuracy_slope * z + u_t), z the
    # standardised log volume of the template, u_t ~ N(0, template_accuracy_sd).
    accuracy_slope: float = 0.8  # frequent templates are predicted better
    template_accuracy_sd: float = 1.0  # wide enough that per-template savings visibly follow accuracy
    rank_decay: float = 0.4  # given known, rank of the true template is geometric: P(rank k) ~ 0.4^(k-1)
    unseen_known: float = 0.05  # P(known) for a template introduced after the version's training
    # Selection time (seconds): baseline * lognormal random effects, minus the saving.
    holdout_mean_s: float = 19.0  # DESIGN: about 19 s without suggestions
    # Saving when the chosen template is shown at rank 1..5: with the rank model this averages
    # about 6 s, so about 13 s with suggestions (DESIGN).
    saving_by_rank_s: Annotated[tuple[float, ...], Field(min_length=5, max_length=5)] = (8.5, 7.0, 6.0, 5.5, 5.0)
    saving_not_shown_s: float = 0.3  # suggestions shown but the chosen one is not among them
    advocate_sd: float = 0.15  # log-scale sd of an advocate's speed
    interaction_sd: float = 0.2  # log-scale sd of an interaction's random effect (clustering)
    template_sd: float = 0.1  # log-scale sd of how hard a template is to find
    selection_sd: float = 0.35  # log-scale residual sd per selection
    # Cases: handle time = selection times + other work; DESIGN: saving ~3.56% of case time.
    other_work_mean_s: float = 500.0
    other_work_sd: float = 0.5  # log-scale
    gap_between_selections_s: float = 90.0  # mean wall-clock time between selections in a case
    latency_median_ms: float = 28.0  # serving latency of a prediction, lognormal
    latency_sd: float = 0.3
    text: TextSettings = field(default_factory=TextSettings)

    @model_validator(mode="after")
    def _releases_and_ramp_fit_the_timeline(self) -> WorldSettings:
        days = [v.release_day for v in self.versions]
        if days[0] != 0 or days != sorted(days) or len(set(days)) != len(days):
            raise ValueError(f"versions: release days must start at 0 and increase, got {days}")
        if days[-1] >= self.days:
            raise ValueError(f"versions: last release day {days[-1]} is not before the end (day {self.days})")
        for earlier, later in zip(days, days[1:], strict=False):
            if later - earlier <= self.challenger_days:
                raise ValueError(
                    f"versions: releases on days {earlier} and {later} leave no room for a challenger test"
                )
        if not 0 <= self.challenger_ramp_days < self.challenger_days:
            raise ValueError(
                f"challenger_ramp_days: must be in [0, challenger_days = {self.challenger_days}), "
                f"got {self.challenger_ramp_days}"
            )
        if not 0 < self.challenger_ramp_weight < (1 - self.holdout_weight) / 2:
            raise ValueError(
                "challenger_ramp_weight: must be above 0 and below half of the treatment traffic "
                f"({(1 - self.holdout_weight) / 2:g}), got {self.challenger_ramp_weight}"
            )
        return self

    @property
    def mean_selections_per_case(self) -> float:
        return (1 + self.transfer_probability) * (1 + self.extra_selections_mean)

    @property
    def n_cases(self) -> int:
        return max(1, round(self.n_selections / self.mean_selections_per_case))


def settings_for_scale(scale: str | int, **overrides: object) -> WorldSettings:
    """Settings for a named scale (``small``, ``default``, ``bench``) or a number of selections.

    Raises:
        ValueError: an unknown scale name or a non-positive number.
    """
    if isinstance(scale, str) and not scale.isdigit():
        if scale not in SCALES:
            raise ValueError(f"scale: expected one of {sorted(SCALES)} or a number of selections, got {scale!r}")
        n_selections = SCALES[scale]
    else:
        n_selections = int(scale)
        if n_selections < 1:
            raise ValueError(f"scale: a number of selections must be >= 1, got {n_selections}")
    return replace(WorldSettings(), n_selections=n_selections, **overrides)  # type: ignore[arg-type]
