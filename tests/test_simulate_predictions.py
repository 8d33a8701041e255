"""The rank model, top-5 lists and scores."""

from __future__ import annotations

import numpy as np
import pytest

from abkit.simulate.predictions import NOT_SHOWN, draw_latency_ms, draw_rank, draw_scores, top5_lists


def test_rank_is_geometric_when_known_and_absent_when_not():
    rng = np.random.default_rng(1)
    rank = draw_rank(rng, np.ones(200_000), decay=0.4)
    # P(rank = k) = 0.6 * 0.4 ** (k - 1); P(not in the five) = 0.4 ** 5
    expected = [0.4**5] + [0.6 * 0.4 ** (k - 1) for k in range(1, 6)]
    np.testing.assert_allclose(np.bincount(rank, minlength=6) / rank.size, expected, atol=0.004)
    assert (draw_rank(rng, np.zeros(1000), decay=0.4) == NOT_SHOWN).all()


def test_top5_lists_put_the_truth_at_its_rank_and_never_repeat():
    rng = np.random.default_rng(2)
    weights = np.full(8, 1 / 8)  # few templates: duplicates among candidates are common
    truth = rng.integers(0, 8, size=5000)
    rank = rng.integers(0, 6, size=5000)
    lists = top5_lists(rng, weights, truth, rank)
    assert all(len(set(row)) == 5 for row in lists)
    shown = rank > 0
    assert (lists[shown, rank[shown] - 1] == truth[shown]).all()
    assert not (lists[~shown] == truth[~shown, None]).any()


def test_scores_descend_within_zero_one():
    rng = np.random.default_rng(3)
    rank = rng.integers(0, 6, size=10_000)
    scores = draw_scores(rng, rank)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert (scores > 0).all() and (scores.sum(axis=1) < 1).all()
    # a right answer at rank 1 comes with a more confident first score
    assert scores[rank == 1, 0].mean() > scores[rank != 1, 0].mean()


def test_latency_median():
    latency = draw_latency_ms(np.random.default_rng(4), 50_000, 28.0, 0.3)
    assert np.median(latency) == pytest.approx(28.0, rel=0.02)
