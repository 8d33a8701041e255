"""World constants: catalogue, template sampling, accuracy calibration, unseen templates."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from abkit.simulate.catalogue import build_catalogue, sample_templates
from abkit.simulate.model import build_world_model, calibrate_intercept
from abkit.simulate.settings import WorldSettings
from abkit.simulate.timeline import training_cutoff_day


def test_catalogue_is_fixed_and_pairs_are_distinct():
    catalogue = build_catalogue(640)
    assert catalogue.size == 640 and catalogue.template_ids[0] == "T0001" and catalogue.template_ids[-1] == "T0640"
    pairs = set(zip(catalogue.objects.tolist(), catalogue.actions.tolist(), strict=True))
    assert len(pairs) == 640
    assert sorted(catalogue.volume_rank.tolist()) == list(range(1, 641))
    assert (catalogue.details[:, 0] != catalogue.details[:, 1]).all()
    # the smaller catalogue is a prefix of the same fixed shuffle of (object, action) pairs
    small = build_catalogue(20)
    assert catalogue.reply_text(0) == build_catalogue(640).reply_text(0)
    assert small.objects[0] == catalogue.objects[0] and small.actions[0] == catalogue.actions[0]


def test_zipf_weights():
    catalogue = build_catalogue(10)
    weights = catalogue.zipf_weights(1.0)
    rank = catalogue.volume_rank
    # worked by hand: w_r = (1 / r) / H_10 with H_10 = 7381 / 2520
    np.testing.assert_allclose(weights, (1 / rank) / (7381 / 2520))


def test_sample_templates_follows_weights_and_skips_dead_templates():
    rng = np.random.default_rng(0)
    weights = np.array([0.5, 0.3, 0.2])
    draws = sample_templates(rng, weights, 100_000)
    np.testing.assert_allclose(np.bincount(draws) / draws.size, weights, atol=0.01)
    allowed = np.array([[True, False], [True, True], [False, True]])  # template x day
    day = np.repeat([0, 1], 5_000)
    draws = sample_templates(rng, weights, day.size, allowed=allowed, day=day)
    assert allowed[draws, day].all()
    with pytest.raises(ValueError, match="day"):
        sample_templates(rng, weights, 10, allowed=allowed)
    with pytest.raises(ValueError, match="too few templates"):
        sample_templates(rng, weights, 3, allowed=np.zeros((3, 1), dtype=bool), day=np.zeros(3, dtype=int))


def test_calibrate_intercept():
    # by hand: equal weights, no slope: sigmoid(a) * 0.5 = 0.25 gives a = 0
    assert calibrate_intercept(np.ones(4), np.zeros(4), 0.25, ceiling=0.5) == pytest.approx(0.0, abs=1e-9)
    weights, linear = np.array([3.0, 1.0]), np.array([1.0, -1.0])
    a = calibrate_intercept(weights, linear, 0.7)
    assert (weights / weights.sum()) @ (1 / (1 + np.exp(-(a + linear)))) == pytest.approx(0.7, abs=1e-9)
    with pytest.raises(ValueError, match="top5_accuracy"):
        calibrate_intercept(np.ones(2), np.zeros(2), 0.99, ceiling=0.9)


def test_model_quality_rises_and_unseen_templates_are_not_known():
    settings = WorldSettings(n_selections=1000, introduced_share=0.2)
    model = build_world_model(settings, seed=1)
    top5_given_known = 1 - settings.rank_decay**5
    for index, version in enumerate(settings.versions):
        seen = model.introduced_day <= training_cutoff_day(settings, index)
        weights = model.weights[seen] / model.weights[seen].sum()
        assert weights @ model.known_probability[index, seen] * top5_given_known == pytest.approx(version.top5_accuracy)
        assert (model.known_probability[index, ~seen] == settings.unseen_known).all()
    # frequent templates are predicted better (the slope on log volume is positive)
    rank = model.catalogue.volume_rank
    assert model.known_probability[0, rank <= 50].mean() > model.known_probability[0, rank > 300].mean()
    assert model.weights @ model.template_factor == pytest.approx(1.0)


def test_world_model_refuses_bad_settings():
    with pytest.raises(ValueError, match="n_templates"):
        build_world_model(WorldSettings(n_templates=5), seed=1)
    with pytest.raises(ValueError, match="top5_accuracy"):
        bad = replace(WorldSettings().versions[0], top5_accuracy=0.999)
        build_world_model(WorldSettings(versions=(bad, *WorldSettings().versions[1:])), seed=1)
