"""How long an advocate takes: the selection-time and case-time model of the simulated world.

One home for the model, shared by the vectorised world (:mod:`abkit.simulate.world`), where
the rank of the chosen template is drawn, and by the live driver
(:mod:`abkit.simulate.live`), where it is the rank a real model gave it.

Selection time = (``holdout_mean_s`` - saving) * effect, where the saving depends on the rank
(1..5) of the chosen template among the suggestions shown (0: not among them) and the effect
is a product of mean-one lognormal factors (template, advocate, interaction, selection).
"""

from __future__ import annotations

import numpy as np

from abkit.simulate.settings import WorldSettings


def lognormal_unit_mean(rng: np.random.Generator, sd: float, size: int) -> np.ndarray:
    """``exp(N(-sd**2 / 2, sd))``: multiplicative noise with mean 1."""
    return np.exp(rng.normal(-(sd**2) / 2, sd, size=size))


def selection_time_s(
    settings: WorldSettings,
    rank: np.ndarray,
    shown: np.ndarray,
    extra_saving_s: np.ndarray | float,
    effect: np.ndarray,
) -> np.ndarray:
    """Seconds each selection took, rounded to milliseconds.

    Args:
        settings: ``holdout_mean_s``, ``saving_by_rank_s`` and ``saving_not_shown_s``.
        rank: rank (1..5) of the chosen template in the list shown, 0 when it is not in it.
        shown: whether suggestions were shown at all (False in the holdout: no saving).
        extra_saving_s: saving beyond the rank (a version's better ranking or UI), when shown.
        effect: mean-one multiplicative random effects (template * advocate * interaction * selection).
    """
    saving_by_rank = np.array([settings.saving_not_shown_s, *settings.saving_by_rank_s])
    saving = np.where(shown, saving_by_rank[rank] + extra_saving_s, 0.0)
    return np.round((settings.holdout_mean_s - saving) * effect, 3)


def other_work_s(rng: np.random.Generator, settings: WorldSettings, size: int) -> np.ndarray:
    """Time spent on a case besides selecting templates (reading, typing, looking things up)."""
    return settings.other_work_mean_s * lognormal_unit_mean(rng, settings.other_work_sd, size)
