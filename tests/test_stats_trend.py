"""Mann-Kendall: by-hand S and Var(S), scipy's Theil-Sen slope, pymannkendall on raw arrays."""

import itertools
import math

import numpy as np
import pymannkendall
import pytest
from scipy import stats

from abkit.stats import mann_kendall

OFFSET = 1e9


def _series(seed: int, n: int = 50, slope: float = 0.05):
    rng = np.random.default_rng(seed)
    return slope * np.arange(n) + rng.normal(0, 1, n)


def _by_hand(x: np.ndarray):
    """S, Var(S) with the tie correction, z with continuity correction, two-sided p (Kendall 1975)."""
    n = x.size
    s = sum(np.sign(x[j] - x[i]) for i, j in itertools.combinations(range(n), 2))
    _, tie_sizes = np.unique(x, return_counts=True)
    var_s = (n * (n - 1) * (2 * n + 5) - np.sum(tie_sizes * (tie_sizes - 1) * (2 * tie_sizes + 5))) / 18
    z = (s - np.sign(s)) / math.sqrt(var_s)
    return s, s / (n * (n - 1) / 2), z, 2 * stats.norm.sf(abs(z))


@pytest.mark.parametrize(
    "values",
    [_series(0), _series(1, slope=0.0), _series(2, n=12, slope=-0.3), np.round(_series(3, n=40) * 2) / 2],  # last: ties
)
def test_original_matches_by_hand_and_theil_sen(values):
    result = mann_kendall(values)
    s, tau, z, p = _by_hand(values)
    assert result.missing is None and result.method == "original" and result.n == values.size
    assert result.s == s
    assert result.tau == pytest.approx(tau, rel=1e-12)
    assert result.z == pytest.approx(z, rel=1e-9)
    assert result.p == pytest.approx(p, rel=1e-9)
    assert result.sen_slope == pytest.approx(stats.theilslopes(values).slope, rel=1e-9)
    assert result.trend == ("no trend" if p >= 0.05 else "increasing" if z > 0 else "decreasing")


def test_heavily_tied_short_series_match_the_by_hand_tie_correction():
    # 300 series of 3 to 30 values drawn from {0, 1, 2} (+ 1e9): ties everywhere, S and Var(S) by hand
    rng = np.random.default_rng(21)
    checked = 0
    for _ in range(300):
        values = rng.integers(0, 3, rng.integers(3, 31)).astype(np.float64) + rng.choice([0.0, OFFSET])
        result = mann_kendall(values)
        if np.all(values == values[0]):
            assert result.missing == "all values equal"
            continue
        s, tau, z, p = _by_hand(values)
        assert result.missing is None and result.s == s and result.tau == pytest.approx(tau, rel=1e-12)
        assert result.z == pytest.approx(z, rel=1e-12, abs=1e-15)
        assert result.p == pytest.approx(p, rel=1e-9)
        checked += 1
    assert checked > 250


@pytest.mark.parametrize("method", ["original", "hamed_rao"])
@pytest.mark.parametrize("offset", [0.0, OFFSET])
def test_matches_pymannkendall_on_raw_arrays(method, offset):
    values = _series(4, n=60) + offset
    reference = (pymannkendall.original_test if method == "original" else pymannkendall.hamed_rao_modification_test)(
        values
    )
    result = mann_kendall(values, method=method)
    assert result.method == method and result.trend == reference.trend
    for mine, theirs in [
        (result.tau, reference.Tau),
        (result.s, reference.s),
        (result.z, reference.z),
        (result.p, reference.p),
        (result.sen_slope, reference.slope),
        (result.intercept, reference.intercept),
    ]:
        assert mine == pytest.approx(float(theirs), rel=1e-9)


@pytest.mark.parametrize("n", [20, 40, 100])
def test_strong_trend_keeps_a_tiny_p_accurate(n):
    # A monotone series (savings rising with accuracy over the top templates): z ~ 5.5 to 14.
    # The by-hand p is 2 * scipy.stats.norm.sf(|z|); pymannkendall's 2 * (1 - cdf) is 0 or off by
    # up to 30% here, so only its S and z are the reference.
    values = np.arange(n, dtype=np.float64) + 0.1 * np.sin(np.arange(n))
    for method in ("original", "hamed_rao"):
        result = mann_kendall(values, method=method)
        assert result.p is not None and result.z is not None
        assert result.p == pytest.approx(2 * stats.norm.sf(abs(result.z)), rel=1e-9, abs=0)
    s, _, z, p = _by_hand(values)
    original = mann_kendall(values)
    assert (original.s, original.z) == (pytest.approx(s), pytest.approx(z, rel=1e-12))
    assert original.p == pytest.approx(p, rel=1e-9, abs=0) and original.p > 0


def test_shift_does_not_change_the_rank_statistics():
    values = _series(5)
    plain, shifted = mann_kendall(values), mann_kendall(values + OFFSET)
    assert (shifted.s, shifted.tau, shifted.z, shifted.p) == (plain.s, plain.tau, plain.z, plain.p)


@pytest.mark.parametrize("seed", range(5))
def test_hamed_rao_widens_the_variance_for_autocorrelated_series(seed):
    # AR(1) noise with phi = 0.9 and no trend: positively autocorrelated ranks inflate Var(S).
    rng = np.random.default_rng(seed)
    values = np.zeros(150)
    for i in range(1, 150):
        values[i] = 0.9 * values[i - 1] + rng.normal()
    original, corrected = mann_kendall(values), mann_kendall(values, method="hamed_rao")
    assert corrected.s == original.s and corrected.sen_slope == original.sen_slope
    assert abs(corrected.z) < abs(original.z) and corrected.p > original.p


@pytest.mark.parametrize(
    ("values", "method", "reason"),
    [
        ([], "original", "n = 0, need at least 3 values"),
        ([1.0, 2.0], "original", "n = 2, need at least 3 values"),
        ([4.0, 4.0, 4.0, 4.0], "original", "all values equal"),
        ([4.0, 4.0, 4.0, 4.0], "hamed_rao", "all values equal"),
        ([1.0, 2.0, 3.0], "hamed_rao", "variance of S cannot be estimated by the hamed_rao method for these 3 values"),
    ],
)
def test_degenerate_series_give_reasons(values, method, reason):
    result = mann_kendall(values, method=method)
    assert result.missing == reason
    assert result.to_dict()["p"] is None and result.to_dict()["n"] == len(values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "sen"}, "method must be"),
        ({"alpha": 0.0}, "alpha"),
        ({"values": [1.0, float("nan"), 2.0]}, "finite"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mann_kendall(**{"values": [1.0, 2.0, 3.0, 5.0], **kwargs})


def test_x_orders_the_values_and_gives_a_theil_sen_slope_per_unit_of_x():
    rng = np.random.default_rng(9)
    accuracy = rng.uniform(0.3, 0.9, 40)
    savings = 10.0 * accuracy + rng.normal(0, 1, 40)
    shuffled = rng.permutation(40)
    result = mann_kendall(savings[shuffled], x=accuracy[shuffled])
    order = np.argsort(accuracy)
    in_order = mann_kendall(savings[order])
    reference = stats.theilslopes(savings, accuracy)
    assert (result.s, result.tau, result.z, result.p) == (in_order.s, in_order.tau, in_order.z, in_order.p)
    assert result.sen_slope == pytest.approx(reference.slope, rel=1e-9)
    assert result.intercept == pytest.approx(reference.intercept, rel=1e-9)
    assert 5.0 < result.sen_slope < 15.0  # seconds per unit of accuracy, near the true 10


def test_x_problems():
    assert mann_kendall([1.0, 2.0, 3.0], x=[0.5, 0.5, 0.5]).missing == "all x equal: no order to test"
    with pytest.raises(ValueError, match="x has 2 values"):
        mann_kendall([1.0, 2.0, 3.0], x=[0.1, 0.2])
    with pytest.raises(ValueError, match="x must all be finite"):
        mann_kendall([1.0, 2.0, 3.0], x=[0.1, float("nan"), 0.2])
