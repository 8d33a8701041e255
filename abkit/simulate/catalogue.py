"""The template catalogue: which (object, action) each template answers, and its volume rank.

The catalogue depends only on the number of templates (a fixed internal seed), never on the
world's seed, so corpora generated with different seeds share the same templates: train on
seed 1, evaluate on seed 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from abkit.simulate import vocabulary as vocab

CATALOGUE_SEED = 20_260_105  # fixed: the catalogue must not move with the world's seed
DETAILS_PER_TEMPLATE = 2
MAX_TEMPLATES = len(vocab.OBJECTS) * len(vocab.ACTIONS)


@dataclass(frozen=True)
class Catalogue:
    """Templates of the world, indexed 0..n-1 (arrays are read-only).

    Attributes:
        template_ids: ``T0001``.. in index order.
        objects: index into :data:`vocabulary.OBJECTS` per template.
        actions: index into :data:`vocabulary.ACTIONS` per template.
        details: ``(n, 2)`` indexes into :data:`vocabulary.DETAILS` per template.
        volume_rank: 1 for the most used template, n for the least (a permutation).
    """

    template_ids: tuple[str, ...]
    objects: np.ndarray
    actions: np.ndarray
    details: np.ndarray
    volume_rank: np.ndarray

    @property
    def size(self) -> int:
        return len(self.template_ids)

    def reply_text(self, template: int) -> str:
        """The text an advocate sends when choosing ``template``."""
        obj = vocab.OBJECTS[self.objects[template]][0]
        return vocab.ACTION_REPLIES[self.actions[template]].format(obj=obj)

    def zipf_weights(self, exponent: float) -> np.ndarray:
        """Selection probability of each template: ``rank ** -exponent``, normalised (Zipf)."""
        weights = self.volume_rank.astype(np.float64) ** -exponent
        return weights / weights.sum()


@lru_cache(maxsize=8)
def build_catalogue(n_templates: int = 640) -> Catalogue:
    """The catalogue of ``n_templates`` templates (deterministic; cached).

    Raises:
        ValueError: ``n_templates`` is below 2 or above the number of (object, action) pairs.
    """
    if not 2 <= n_templates <= MAX_TEMPLATES:
        raise ValueError(f"n_templates: must be between 2 and {MAX_TEMPLATES}, got {n_templates}")
    rng = np.random.default_rng(CATALOGUE_SEED)
    pairs = rng.permutation(MAX_TEMPLATES)[:n_templates]
    objects, actions = np.divmod(pairs, len(vocab.ACTIONS))
    # Two distinct detail words per template; a word is shared by several templates.
    details = np.stack(
        [rng.choice(len(vocab.DETAILS), size=DETAILS_PER_TEMPLATE, replace=False) for _ in range(n_templates)]
    )
    volume_rank = rng.permutation(n_templates) + 1
    arrays = (objects, actions, details, volume_rank)
    for array in arrays:
        array.setflags(write=False)
    return Catalogue(
        template_ids=tuple(f"T{index + 1:04d}" for index in range(n_templates)),
        objects=objects,
        actions=actions,
        details=details,
        volume_rank=volume_rank,
    )


def sample_templates(
    rng: np.random.Generator,
    weights: np.ndarray,
    size: int,
    *,
    allowed: np.ndarray | None = None,
    day: np.ndarray | None = None,
) -> np.ndarray:
    """Draw ``size`` template indexes from ``weights``, vectorised.

    Args:
        rng: the random generator.
        weights: selection probability per template (sums to 1).
        size: number of draws.
        allowed: optional ``(n_templates, n_days)`` boolean table of which templates exist on
            which day; draws of a template that does not exist on the row's ``day`` are redrawn.
        day: day index of each draw, required with ``allowed``.
    """
    cumulative = np.cumsum(weights)
    cumulative[-1] = 1.0
    draws = np.searchsorted(cumulative, rng.random(size), side="right")
    if allowed is None:
        return draws
    if day is None or len(day) != size:
        raise ValueError("day: one day index per draw is required with allowed")
    # Rejection sampling: redraw only the rows that hit a template not live that day.
    for _ in range(200):
        bad = np.flatnonzero(~allowed[draws, day])
        if bad.size == 0:
            return draws
        draws[bad] = np.searchsorted(cumulative, rng.random(bad.size), side="right")
    raise ValueError("allowed: too few templates live on some day to draw from")
