"""ClusterSummary: ratio mean and delta-method variance against statsmodels' cluster-robust OLS."""

import math

import numpy as np
import pytest
import statsmodels.api as sm

from abkit.stats import ClusterSummary

OFFSET = 1e9


def _clustered(seed: int, clusters: int = 80):
    """Selection times with a per-interaction random effect and 1..12 selections per interaction."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 13, clusters)
    ids = np.repeat(np.arange(clusters), sizes)
    values = 15.0 + rng.normal(0, 3, clusters)[ids] + rng.exponential(4.0, ids.size)
    return values, ids


def _cluster_robust_variance(values: np.ndarray, ids: np.ndarray) -> tuple[float, float]:
    """Reference: intercept and its CR1 cluster-robust variance from statsmodels OLS on a constant."""
    fit = sm.OLS(values, np.ones(values.size)).fit(cov_type="cluster", cov_kwds={"groups": ids})
    return float(fit.params[0]), float(fit.bse[0] ** 2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_variance_matches_statsmodels_cluster_robust_ols(seed):
    values, ids = _clustered(seed)
    summary = ClusterSummary.from_values(values, ids)
    mean, variance = _cluster_robust_variance(values, ids)
    assert summary.k == len(np.unique(ids))
    assert summary.sum_n == values.size
    assert summary.mean == pytest.approx(mean, rel=1e-12)
    assert summary.variance_of_mean == pytest.approx(variance, rel=1e-9)
    assert summary.se == pytest.approx(np.sqrt(variance), rel=1e-9)


def test_variance_is_the_delta_method_on_per_cluster_sums():
    # Delta method for R = ybar / nbar with sample (ddof=1) moments over clusters, worked with numpy.
    values, ids = _clustered(3)
    n = np.bincount(ids).astype(float)
    y = np.bincount(ids, weights=values)
    k, ratio = n.size, y.sum() / n.sum()
    cov = np.cov(np.vstack([y, n]), ddof=1)
    delta_method = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (k * n.mean() ** 2)
    assert ClusterSummary.from_clusters(n, y, shift=0.0).variance_of_mean == pytest.approx(delta_method, rel=1e-9)


def test_data_shifted_by_1e9():
    values, ids = _clustered(4)
    shifted = values + OFFSET
    summary = ClusterSummary.from_values(shifted, ids)
    mean, variance = _cluster_robust_variance(shifted - OFFSET, ids)
    assert summary.mean - OFFSET == pytest.approx(mean, rel=1e-9)
    assert summary.variance_of_mean == pytest.approx(variance, rel=1e-9)


def test_singleton_clusters_reduce_to_iid_variance_times_k_over_k_minus_1():
    values = np.random.default_rng(5).normal(10, 2, 200)
    summary = ClusterSummary.from_values(values, np.arange(200))
    # CR1 with one selection per cluster: sum (x - mean)^2 / n^2 * n / (n - 1) = s^2 / n
    assert summary.variance_of_mean == pytest.approx(np.var(values, ddof=1) / 200, rel=1e-9)


def test_add_with_different_shifts_equals_summary_of_union():
    values, ids = _clustered(6, clusters=120)
    first = ids < 50
    left = ClusterSummary.from_values(values[first] + OFFSET, ids[first])
    right = ClusterSummary.from_values(values[~first] + OFFSET, ids[~first], shift=OFFSET + 7.0)
    combined = left + right
    whole = ClusterSummary.from_values(values + OFFSET, ids, shift=left.shift)
    assert (combined.k, combined.sum_n, combined.sum_n2) == (whole.k, whole.sum_n, whole.sum_n2)
    assert combined.mean == pytest.approx(whole.mean, rel=1e-15)
    assert combined.variance_of_mean == pytest.approx(whole.variance_of_mean, rel=1e-9)
    assert sum([left, right]) == combined
    assert left + ClusterSummary.empty() == left and ClusterSummary.empty() + left == left


def test_degenerate_cluster_counts():
    assert ClusterSummary.empty().mean is None
    assert ClusterSummary.empty().variance_of_mean is None
    one = ClusterSummary.from_values([3.0, 5.0], ["a", "a"])
    assert one.k == 1 and one.mean == 4.0 and one.variance_of_mean is None
    same = ClusterSummary.from_values([2.0, 2.0, 2.0], ["a", "b", "b"])
    assert same.variance_of_mean == 0.0
    assert ClusterSummary(k=0, sum_n=0, sum_y=None, sum_n2=None, sum_y2=None, sum_ny=None, shift=0.0).k == 0


def test_variance_of_huge_sums_does_not_overflow():
    # two singleton clusters +-a: by hand k / (k - 1) * sum (y_i - r n_i)^2 / N^2 = 2 * 2 a^2 / 4 = a^2,
    # finite; applying the factor 2 before dividing by N^2 overflowed 1.5e308 to inf
    a = math.sqrt(0.75e308)
    huge = ClusterSummary.from_clusters([1, 1], [a, -a], shift=0.0)
    assert huge.variance_of_mean == pytest.approx(a * a, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 3, "sum_n": 2, "sum_y": 0.0, "sum_n2": 2.0, "sum_y2": 0.0, "sum_ny": 0.0}, "sum_n"),
        ({"k": 2, "sum_n": 4, "sum_y": 0.0, "sum_n2": 3.0, "sum_y2": 0.0, "sum_ny": 0.0}, "sum_n2"),
        ({"k": 2, "sum_n": 4, "sum_y": float("inf"), "sum_n2": 8.0, "sum_y2": 0.0, "sum_ny": 0.0}, "sum_y"),
        ({"k": -1, "sum_n": 0, "sum_y": 0.0, "sum_n2": 0.0, "sum_y2": 0.0, "sum_ny": 0.0}, "k must be"),
        ({"k": 0, "sum_n": 0, "sum_y": 1.0, "sum_n2": 0.0, "sum_y2": 0.0, "sum_ny": 0.0}, "empty cluster"),
    ],
)
def test_invalid_fields_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClusterSummary(shift=0.0, **kwargs)


def test_invalid_cluster_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        ClusterSummary.from_clusters([1, 2], [1.0], shift=0.0)
    with pytest.raises(ValueError, match=">= 1"):
        ClusterSummary.from_clusters([0, 2], [0.0, 1.0], shift=0.0)
    with pytest.raises(ValueError, match="differ in length"):
        ClusterSummary.from_values([1.0, 2.0], ["a"])
    with pytest.raises(ValueError, match="finite"):
        ClusterSummary.from_values([1.0, float("nan")], ["a", "b"])
