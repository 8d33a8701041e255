"""The fixed facts of one simulated world: templates' lives, model quality, advocates.

Everything here is drawn once per (settings, seed), before any case is simulated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abkit.simulate.catalogue import Catalogue, build_catalogue
from abkit.simulate.settings import WorldSettings
from abkit.simulate.timeline import Period, build_timeline, training_cutoff_day

# Templates this high in the volume ranking are never introduced late or retired, so the
# world's headline figures do not hinge on one template's life.
STABLE_TOP_RANKS = 20
MIN_TEMPLATES = 6  # a top-5 list needs at least five templates besides the chosen one


@dataclass(frozen=True)
class WorldModel:
    """Per-world constants (arrays are indexed by template, version or advocate).

    Attributes:
        settings: the world's settings.
        catalogue: templates.
        weights: Zipf selection probability per template.
        live: ``(n_templates, days)``: whether a template can be chosen on a day.
        introduced_day: day each template appears (0 for most).
        known_probability: ``(n_versions, n_templates)``: P(the version ranks the template
            in its learnt list), the "known" of the rank model in :mod:`predictions`.
        template_factor: multiplicative difficulty of finding each template by hand.
        advocate_factor: multiplicative speed of each advocate.
        periods: the experiment timeline.
    """

    settings: WorldSettings
    catalogue: Catalogue
    weights: np.ndarray
    live: np.ndarray
    introduced_day: np.ndarray
    known_probability: np.ndarray
    template_factor: np.ndarray
    advocate_factor: np.ndarray
    periods: tuple[Period, ...]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def calibrate_intercept(weights: np.ndarray, linear: np.ndarray, target: float, *, ceiling: float = 1.0) -> float:
    """The intercept ``a`` with ``sum(weights * sigmoid(a + linear)) * ceiling == target`` (bisection).

    ``ceiling`` is P(top-5 | known), so ``target`` is a top-5 accuracy.

    Raises:
        ValueError: the target cannot be reached (not in ``(0, ceiling)``).
    """
    if not 0 < target < ceiling:
        raise ValueError(f"top5_accuracy: must be in (0, {ceiling:.4f}), got {target}")
    low, high = -30.0, 30.0
    weights = weights / weights.sum()
    for _ in range(100):  # the weighted mean is increasing in a
        middle = (low + high) / 2
        if float(weights @ _sigmoid(middle + linear)) * ceiling < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _lifecycle(
    settings: WorldSettings, catalogue: Catalogue, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n, days = catalogue.size, settings.days
    introduced = np.zeros(n, dtype=np.int64)
    retired = np.full(n, days, dtype=np.int64)
    movable = rng.permutation(np.flatnonzero(catalogue.volume_rank > STABLE_TOP_RANKS))
    n_new = round(settings.introduced_share * n)
    n_old = round(settings.deprecated_share * n)
    new, old = movable[:n_new], movable[n_new : n_new + n_old]
    introduced[new] = rng.integers(1, days, size=new.size)
    retired[old] = rng.integers(1, days, size=old.size)
    day = np.arange(days)
    live = (introduced[:, None] <= day[None, :]) & (day[None, :] < retired[:, None])
    return live, introduced


def build_world_model(settings: WorldSettings, seed: int) -> WorldModel:
    """Draw the constants of the world of ``seed``.

    Raises:
        ValueError: too few templates, or a version's accuracy target that cannot be met.
    """
    if settings.n_templates < MIN_TEMPLATES:
        raise ValueError(f"n_templates: the world needs at least {MIN_TEMPLATES} templates")
    catalogue = build_catalogue(settings.n_templates)
    rng = np.random.default_rng([seed, 0xC0DE])
    weights = catalogue.zipf_weights(settings.zipf_exponent)
    live, introduced = _lifecycle(settings, catalogue, rng)

    # P(known) = sigmoid(alpha_v + slope * z_t + u_t), z_t the standardised log volume.
    log_volume = np.log(weights)
    z = (log_volume - log_volume.mean()) / (log_volume.std() or 1.0)
    linear = settings.accuracy_slope * z + rng.normal(0.0, settings.template_accuracy_sd, catalogue.size)
    top5_given_known = 1.0 - settings.rank_decay**5  # P(geometric rank <= 5)
    known = np.empty((len(settings.versions), catalogue.size))
    for index, version in enumerate(settings.versions):
        seen = introduced <= training_cutoff_day(settings, index)
        alpha = calibrate_intercept(weights[seen], linear[seen], version.top5_accuracy, ceiling=top5_given_known)
        known[index] = np.where(seen, _sigmoid(alpha + linear), settings.unseen_known)

    template_factor = np.exp(rng.normal(0.0, settings.template_sd, catalogue.size))
    template_factor /= weights @ template_factor  # volume-weighted mean 1: the baseline stays holdout_mean_s
    advocate_factor = np.exp(rng.normal(-(settings.advocate_sd**2) / 2, settings.advocate_sd, settings.n_advocates))
    for array in (weights, live, introduced, known, template_factor, advocate_factor):
        array.setflags(write=False)
    return WorldModel(
        settings=settings,
        catalogue=catalogue,
        weights=weights,
        live=live,
        introduced_day=introduced,
        known_probability=known,
        template_factor=template_factor,
        advocate_factor=advocate_factor,
        periods=build_timeline(settings),
    )
