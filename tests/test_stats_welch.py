"""Welch t-test against scipy, the published pairs, the clustered variant and degenerate arms."""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, stats

from abkit.stats import ClusterSummary, SampleSummary, WelchResult, clustered_welch, welch_from_moments, welch_test

OFFSET = 1e9


def _arms(seed: int, n1: int = 900, n2: int = 60):
    rng = np.random.default_rng(seed)
    return rng.gamma(4.0, 3.3, n1), rng.gamma(4.0, 4.8, n2)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_scipy_ttest_ind_welch(seed):
    treatment, control = _arms(seed)
    result = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    assert result.missing is None
    assert result.t == pytest.approx(reference.statistic, rel=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-9)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.delta == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)


def test_data_shifted_by_1e9_matches_scipy_on_the_same_values():
    # scipy on x + 1e9 would lose ~1e-7 s in its difference of means; subtracting 1e9 is exact,
    # so scipy on (shifted - 1e9) is the reference on exactly the same values.
    treatment, control = (arm + OFFSET for arm in _arms(4))
    result = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    reference = stats.ttest_ind(treatment - OFFSET, control - OFFSET, equal_var=False)
    assert result.t == pytest.approx(reference.statistic, rel=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-9)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)


def test_summaries_with_different_shifts_give_the_same_test():
    treatment, control = _arms(5)
    first = welch_test(SampleSummary.from_values(treatment, shift=0.0), SampleSummary.from_values(control, shift=0.0))
    second = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control, shift=30.0))
    assert second.t == pytest.approx(first.t, rel=1e-9)
    assert second.p == pytest.approx(first.p, rel=1e-9)


def test_from_moments_matches_scipy_ttest_ind_from_stats():
    result = welch_from_moments(12.6, 30.2, 4000, 13.1, 41.0, 85)
    reference = stats.ttest_ind_from_stats(12.6, math.sqrt(30.2), 4000, 13.1, math.sqrt(41.0), 85, equal_var=False)
    assert result.t == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)


def _moments_for(t: float, df: float, n: int = 3_000_000):
    """Equal-size arms whose Welch test gives exactly (t, df): solve the variance ratio r for df."""
    # df = (n - 1) (1 + r)^2 / (1 + r^2) for variances of the mean 1 and r
    r = optimize.brentq(lambda r: (n - 1) * (1 + r) ** 2 / (1 + r * r) - df, 1e-6, 1.0, xtol=1e-15, rtol=1e-15)
    delta = t * math.sqrt(1.0 + r)
    return (delta, 1.0 * n, n, 0.0, r * n, n)


@pytest.mark.parametrize(
    ("t", "df", "published_p"),
    [
        (-6.227002835, 3_236_252, 4.755e-10),  # v1 vs v2
        (-10.79425063, 5_698_811, 3.667e-27),  # v3 vs v4
    ],
)
def test_published_pairs_are_reproduced(t, df, published_p):
    result = welch_from_moments(*_moments_for(t, df))
    assert result.t == pytest.approx(t, rel=1e-9)
    assert result.df == pytest.approx(df, rel=1e-9)
    assert result.p == pytest.approx(published_p, rel=5e-4)  # published to 4 significant digits
    assert result.p == pytest.approx(2 * stats.t.sf(-t, df), rel=1e-9)
    assert result.p > 0  # no underflow or 1 - cdf cancellation


def _reference_clustered_welch(treatment, treatment_ids, control, control_ids):
    """Independent route: CR1 variance of each arm's mean from statsmodels, Welch-Satterthwaite by cluster counts."""
    parts = []
    for values, ids in ((treatment, treatment_ids), (control, control_ids)):
        fit = sm.OLS(values, np.ones(values.size)).fit(cov_type="cluster", cov_kwds={"groups": ids})
        parts.append((fit.params[0], fit.bse[0] ** 2, len(np.unique(ids)) - 1))
    (m1, v1, d1), (m2, v2, d2) = parts
    t = (m1 - m2) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / d1 + v2**2 / d2)
    return t, df, 2 * stats.t.sf(abs(t), df)


def _clustered_arm(rng, clusters: int, effect: float):
    sizes = rng.integers(1, 15, clusters)
    ids = np.repeat(np.arange(clusters), sizes)
    values = 15.0 + effect + rng.normal(0, 4, clusters)[ids] + rng.normal(0, 3, ids.size)
    return values, ids


@pytest.mark.parametrize("offset", [0.0, OFFSET])
def test_clustered_welch_matches_statsmodels_route(offset):
    rng = np.random.default_rng(7)
    treatment, t_ids = _clustered_arm(rng, 300, -1.0)
    control, c_ids = _clustered_arm(rng, 25, 0.0)
    treatment, control = treatment + offset, control + offset
    result = clustered_welch(ClusterSummary.from_values(treatment, t_ids), ClusterSummary.from_values(control, c_ids))
    # the reference sees the same stored values, with the offset removed exactly
    t, df, p = _reference_clustered_welch(treatment - offset, t_ids, control - offset, c_ids)
    assert result.t == pytest.approx(t, rel=1e-9)
    assert result.df == pytest.approx(df, rel=1e-9)
    assert result.p == pytest.approx(p, rel=1e-9)


def test_clustered_p_is_larger_than_selection_level_when_selections_cluster():
    rng = np.random.default_rng(8)
    treatment, t_ids = _clustered_arm(rng, 200, -1.5)
    control, c_ids = _clustered_arm(rng, 200, 0.0)
    selection = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    clustered = clustered_welch(
        ClusterSummary.from_values(treatment, t_ids), ClusterSummary.from_values(control, c_ids)
    )
    assert clustered.delta == pytest.approx(selection.delta, rel=1e-9)
    assert clustered.se > 1.5 * selection.se
    assert clustered.df < 400 < selection.df


@pytest.mark.parametrize(
    ("treatment", "control", "reason"),
    [
        ([], [1.0, 2.0], "no selections in treatment"),
        ([1.0, 2.0], [], "no selections in control"),
        ([1.0], [1.0, 2.0], "n = 1 in treatment"),
        ([1.0, 3.0], [2.0], "n = 1 in control"),
        ([4.0, 4.0], [5.0, 5.0, 5.0], "zero variance in both arms"),
    ],
)
def test_degenerate_arms_give_a_reason_not_nan(treatment, control, reason):
    result = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    assert result == WelchResult.unavailable(reason)
    assert result.to_dict() == {"t": None, "df": None, "p": None, "delta": None, "se": None, "missing": reason}


def test_degenerate_clusters_and_moments():
    one = ClusterSummary.from_values([1.0, 2.0], ["a", "a"])
    two = ClusterSummary.from_values([1.0, 2.0], ["a", "b"])
    assert clustered_welch(one, two).missing == "only 1 interaction in treatment"
    assert clustered_welch(two, ClusterSummary.empty()).missing == "no interactions in control"
    assert welch_test(SampleSummary.empty(), SampleSummary.empty(), labels=("v2", "holdout")).missing == (
        "no selections in v2"
    )
    assert welch_from_moments(1.0, 0.0, 10, 2.0, 0.0, 10).missing == "zero variance in both arms"
    assert welch_from_moments(1.0, 1.0, 1, 2.0, 1.0, 10).missing == "n = 1 in treatment"


def test_zero_variance_in_one_arm_is_fine_and_equal_means_give_p_one():
    one_sided = welch_test(SampleSummary.from_values([3.0, 3.0, 3.0]), SampleSummary.from_values([1.0, 2.0, 4.0]))
    # by hand: delta = 3 - 7/3, v = s^2 / n = (7/3) / 3 for the second arm only, df = n - 1 = 2
    t = (3.0 - 7.0 / 3.0) / math.sqrt(7.0 / 9.0)
    assert one_sided.t == pytest.approx(t, rel=1e-12)
    assert one_sided.p == pytest.approx(2 * stats.t.sf(t, 2), rel=1e-9)
    assert one_sided.df == pytest.approx(2.0, rel=1e-12)
    same = welch_test(SampleSummary.from_values([1.0, 3.0]), SampleSummary.from_values([0.0, 4.0]))
    assert same.t == 0.0 and same.p == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((float("nan"), 1.0, 5, 1.0, 1.0, 5), "mean of treatment"),
        ((1.0, -1.0, 5, 1.0, 1.0, 5), "variance of treatment"),
        ((1.0, 1.0, 5, 1.0, 1.0, -2), "n of control"),
        ((1.0, 1.0, 5, 1.0, float("inf"), 5), "variance of control"),
    ],
)
def test_from_moments_refuses_bad_input_by_name(args, message):
    with pytest.raises(ValueError, match=message):
        welch_from_moments(*args)


def test_wrong_summary_type_is_refused():
    with pytest.raises(TypeError, match="treatment must be"):
        welch_test([1.0, 2.0], SampleSummary.from_values([1.0, 2.0]))


@pytest.mark.parametrize("seed", range(20))
def test_properties_swap_translation_and_scale(seed):
    # Seeded property checks: swapping arms negates t and keeps p; a common translation changes
    # nothing; a common scale keeps t, df and p and scales delta.
    rng = np.random.default_rng([99, seed])
    treatment = rng.lognormal(2.5, rng.uniform(0.1, 1.0), rng.integers(2, 300))
    control = rng.lognormal(2.6, rng.uniform(0.1, 1.0), rng.integers(2, 300))
    base = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    swapped = welch_test(SampleSummary.from_values(control), SampleSummary.from_values(treatment))
    moved = welch_test(SampleSummary.from_values(treatment + 1e6), SampleSummary.from_values(control + 1e6))
    scaled = welch_test(SampleSummary.from_values(treatment * 60), SampleSummary.from_values(control * 60))
    assert swapped.t == pytest.approx(-base.t, rel=1e-12) and swapped.p == pytest.approx(base.p, rel=1e-12)
    assert moved.t == pytest.approx(base.t, rel=1e-7) and moved.df == pytest.approx(base.df, rel=1e-7)
    assert scaled.t == pytest.approx(base.t, rel=1e-9) and scaled.delta == pytest.approx(60 * base.delta, rel=1e-9)
    assert 0.0 <= base.p <= 1.0 and base.df >= min(treatment.size, control.size) - 1 - 1e-9


def test_tiny_variances_do_not_underflow_the_df():
    # v^2 of 1e-200 underflows to 0 in floats; the df must still come out (here 2 (n - 1) = 18).
    result = welch_from_moments(1e-90, 1e-199, 10, 0.0, 1e-199, 10)
    assert result.df == pytest.approx(18.0, rel=1e-12)
    assert result.t == pytest.approx(1e-90 / math.sqrt(2e-200), rel=1e-9)
    huge = welch_from_moments(1e300, 1e-300, 10, -1e300, 1e-300, 10)
    assert huge.missing == "variance too small to test the difference"
