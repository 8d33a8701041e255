"""Holm correction against statsmodels' multipletests."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from abkit.stats import holm


@pytest.mark.parametrize(
    "p_values",
    [
        [0.01, 0.04, 0.03, 0.005],
        [4.755e-10, 3.667e-27],
        [0.2, 0.2, 0.01, 0.9, 0.04],  # ties
        [0.5],
        list(np.random.default_rng(0).uniform(0, 0.2, 30)),
    ],
)
def test_matches_statsmodels_holm(p_values):
    expected = multipletests(p_values, method="holm")[1]
    np.testing.assert_allclose(holm(p_values), expected, rtol=1e-9)


def test_none_passes_through_and_does_not_count():
    adjusted = holm([0.01, None, 0.04, None])
    assert adjusted[1] is None and adjusted[3] is None
    np.testing.assert_allclose([adjusted[0], adjusted[2]], multipletests([0.01, 0.04], method="holm")[1], rtol=1e-9)
    assert holm([]) == [] and holm([None]) == [None]


def test_adjusted_values_are_capped_at_one_and_monotone_in_p():
    adjusted = holm([0.6, 0.5, 0.7])
    assert adjusted == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5])
def test_invalid_p_is_refused_with_its_position(bad):
    with pytest.raises(ValueError, match=r"p_values\[1\]"):
        holm([0.1, bad])
