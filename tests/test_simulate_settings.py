"""World settings: scales and refused configurations."""

from __future__ import annotations

from dataclasses import replace

import pytest

from abkit.simulate.settings import SCALES, WorldSettings, settings_for_scale
from abkit.simulate.structure import sample_case_shape


def test_scales():
    assert settings_for_scale("small").n_selections == SCALES["small"]
    assert settings_for_scale("bench").n_selections == 10_000_000
    assert settings_for_scale(1234).n_selections == 1234
    assert settings_for_scale("500").n_selections == 500
    assert settings_for_scale("default", days=250).days == 250
    # ~2.86 selections per case: 1.1 interactions of 1 + Poisson(1.6) selections
    assert WorldSettings().mean_selections_per_case == pytest.approx(1.1 * 2.6)
    with pytest.raises(ValueError, match="scale"):
        settings_for_scale("huge")
    with pytest.raises(ValueError, match="scale"):
        settings_for_scale(0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"n_selections": 0}, "n_selections"),
        ({"days": 0}, "days"),
        ({"versions": ()}, "versions"),
        ({"days": 200}, "versions"),  # the last release (day 234) is after the end
        ({"n_advocates": 1}, "n_advocates"),
        ({"saving_by_rank_s": (1.0, 2.0)}, "saving_by_rank_s"),
        ({"holdout_weight": 0.0}, "holdout_weight"),
    ],
)
def test_bad_settings_name_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        WorldSettings(**change)


def test_releases_need_room_for_a_challenger_test():
    versions = WorldSettings().versions
    crowded = (versions[0], replace(versions[1], release_day=10), *versions[2:])
    with pytest.raises(ValueError, match="challenger"):
        WorldSettings(versions=crowded)


def test_case_shape():
    import numpy as np

    shape = sample_case_shape(np.random.default_rng(0), 20_000, transfer_probability=0.1, extra_selections_mean=1.6)
    assert shape.n_interactions / shape.n_cases == pytest.approx(1.1, abs=0.01)
    assert shape.n_selections / shape.n_interactions == pytest.approx(2.6, abs=0.05)
    assert (np.diff(shape.selection_case) >= 0).all()
    starts = np.r_[True, shape.selection_case[1:] != shape.selection_case[:-1]]
    assert (shape.selection_number[starts] == 0).all()
    with pytest.raises(ValueError, match="n_cases"):
        sample_case_shape(np.random.default_rng(0), -1, transfer_probability=0.1, extra_selections_mean=1.0)
