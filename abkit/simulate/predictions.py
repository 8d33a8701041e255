"""What a model version suggests: the rank of the right template, the top-5 list, its scores.

Rank model: with probability ``known`` the version has learnt the template and ranks it
``k`` with ``P(k) = (1 - d) * d ** (k - 1)`` (geometric, decay ``d``); otherwise it is not
among the five shown. So top-1 = known * (1 - d) and top-5 = known * (1 - d ** 5): with d = 0.4
top-1 / top-5 = 0.61, as the offline figures in DESIGN.md (48.6 / 78.9).
"""

from __future__ import annotations

import numpy as np

from abkit.events.columns import TOP_K
from abkit.simulate.catalogue import sample_templates

NOT_SHOWN = 0  # rank value of a template that is not among the five shown
_ZIPF_CANDIDATES = 10
_UNIFORM_CANDIDATES = 6


def draw_rank(rng: np.random.Generator, known: np.ndarray, decay: float) -> np.ndarray:
    """Rank (1..5) of the chosen template in each top-5 list, or :data:`NOT_SHOWN`."""
    is_known = rng.random(known.size) < known
    rank = rng.geometric(1.0 - decay, size=known.size)
    return np.where(is_known & (rank <= TOP_K), rank, NOT_SHOWN)


def _distractors(rng: np.random.Generator, weights: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Five distinct templates per row, none equal to ``truth``: popular ones come up more."""
    n_rows, n_templates = truth.size, weights.size
    out = np.empty((n_rows, TOP_K), dtype=np.int64)
    todo = np.arange(n_rows)
    while todo.size:
        candidates = np.concatenate(
            [
                sample_templates(rng, weights, todo.size * _ZIPF_CANDIDATES).reshape(todo.size, _ZIPF_CANDIDATES),
                rng.integers(0, n_templates, size=(todo.size, _UNIFORM_CANDIDATES)),
            ],
            axis=1,
        )
        usable = candidates != truth[todo, None]
        for column in range(1, candidates.shape[1]):
            usable[:, column] &= ~(candidates[:, :column] == candidates[:, column : column + 1]).any(axis=1)
        enough = usable.sum(axis=1) >= TOP_K
        # first five usable columns of each row, in column order (stable sort on "unusable")
        order = np.argsort(~usable, axis=1, kind="stable")[:, :TOP_K]
        picked = np.take_along_axis(candidates, order, axis=1)
        out[todo[enough]] = picked[enough]
        todo = todo[~enough]
    return out


def top5_lists(rng: np.random.Generator, weights: np.ndarray, truth: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """``(n, 5)`` template indexes shown, with ``truth`` at ``rank`` where ``rank`` > 0."""
    others = _distractors(rng, weights, truth)
    lists = others.copy()
    for position in range(TOP_K):
        # rows whose truth sits at this rank: truth here, the distractors shift right after it
        here = rank == position + 1
        lists[here, position] = truth[here]
        after = (rank > 0) & (rank < position + 1)
        lists[after, position] = others[after, position - 1]
    return lists


def draw_scores(rng: np.random.Generator, rank: np.ndarray) -> np.ndarray:
    """``(n, 5)`` descending softmax-like scores in (0, 1).

    Logits fall by exponential gaps down the list; the other templates keep a lognormal share
    of the mass. A right answer at rank 1 comes with a wider first gap (a confident model).
    """
    n = rank.size
    gaps = rng.exponential(0.7, size=(n, TOP_K - 1))
    gaps[:, 0] += np.where(rank == 1, rng.exponential(0.8, size=n), 0.0)
    logits = np.concatenate([np.zeros((n, 1)), -np.cumsum(gaps, axis=1)], axis=1)
    rest = np.exp(rng.normal(1.0, 0.6, size=(n, 1)))
    mass = np.exp(logits)
    return mass / (mass.sum(axis=1, keepdims=True) + rest)


def draw_latency_ms(rng: np.random.Generator, size: int, median_ms: float, sd: float) -> np.ndarray:
    """Serving latency per prediction: lognormal around ``median_ms``."""
    return median_ms * np.exp(rng.normal(0.0, sd, size=size))
