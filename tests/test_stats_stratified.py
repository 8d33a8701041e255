"""Stratified (phase-combined) interaction-level inference: golden values and simulation checks.

Golden values: statsmodels' OLS of selection time on a constant with a cluster-robust (CR1)
covariance grouped by interaction, per arm (small-sample factor G/(G-1) (N-1)/(N-K), K = 1), and
the stratified formulas worked out in numpy. Simulations use fixed seeds; their bounds are the
ones issue 16 asks for (coverage 95 +- 1.5% over 2,000 runs; A/A rate inside the binomial 95%
interval of 5%).
"""

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from abkit.stats import (
    ClusterSummary,
    SampleSummary,
    StratifiedSummary,
    clustered_welch,
    mean_delta,
    stratified_summary,
)

REL = 1e-9
ICC = 0.3
TOTAL_SD = 4.0
BASE_S = 15.0


def _arm(rng, interactions, effect_s=0.0):
    """Selections of one arm: 1..8 per interaction, intra-interaction correlation ICC."""
    sizes = rng.integers(1, 9, interactions)
    ids = np.repeat(np.arange(interactions), sizes)
    between = rng.normal(0, TOTAL_SD * math.sqrt(ICC), interactions)[ids]
    values = BASE_S + effect_s + between + rng.normal(0, TOTAL_SD * math.sqrt(1 - ICC), ids.size)
    return values, ids, sizes


def _clusters(values, ids, sizes):
    return ClusterSummary.from_clusters(sizes, np.bincount(ids, weights=values - BASE_S), shift=BASE_S)


def _statsmodels_variance(values, ids):
    fit = sm.OLS(values, np.ones(len(values))).fit(cov_type="cluster", cov_kwds={"groups": ids})
    return float(fit.params[0]), float(fit.cov_params()[0, 0])


def test_clustered_ci_matches_statsmodels_cluster_robust_ols():
    rng = np.random.default_rng(16)
    treatment, control = _arm(rng, 300, effect_s=-2.0), _arm(rng, 40)
    (m1, v1), (m0, v0) = _statsmodels_variance(*treatment[:2]), _statsmodels_variance(*control[:2])
    k1, k0 = len(treatment[2]), len(control[2])
    df = (v1 + v0) ** 2 / (v1**2 / (k1 - 1) + v0**2 / (k0 - 1))
    q = stats.t.isf(0.025, df)
    result = mean_delta(_clusters(*treatment), _clusters(*control))
    assert result.delta_s == pytest.approx(m1 - m0, rel=REL)
    assert result.ci95_s == pytest.approx((m1 - m0 - q * math.sqrt(v1 + v0), m1 - m0 + q * math.sqrt(v1 + v0)), rel=REL)
    half_pct = 100 * q * math.sqrt(v1 / m0**2 + m1**2 * v0 / m0**4)  # delta method on m1 / m0
    assert result.ci95_pct == pytest.approx((100 * (m1 / m0 - 1) - half_pct, 100 * (m1 / m0 - 1) + half_pct), rel=REL)


def test_one_stratum_is_exactly_the_unstratified_result():
    rng = np.random.default_rng(3)
    t, c = _clusters(*_arm(rng, 120, -1.0)), _clusters(*_arm(rng, 30))
    plain, combined = mean_delta(t, c), mean_delta(stratified_summary([t], [7.0]), stratified_summary([c], [7.0]))
    assert combined == plain
    assert clustered_welch(stratified_summary([t], [1]), stratified_summary([c], [1])) == clustered_welch(t, c)


def test_two_strata_follow_the_stratified_formulas():
    rng = np.random.default_rng(5)
    phases = [(_arm(rng, 80, -1.0), _arm(rng, 20)), (_arm(rng, 200, -1.5), _arm(rng, 60))]
    weights = [len(t[2]) + len(c[2]) for t, c in phases]
    w = np.array(weights) / sum(weights)
    means, variances, dofs = {0: [], 1: []}, {0: [], 1: []}, {0: [], 1: []}
    for t, c in phases:
        for arm, data in ((0, t), (1, c)):
            mean, variance = _statsmodels_variance(*data[:2])
            means[arm].append(mean)
            variances[arm].append(variance)
            dofs[arm].append(len(data[2]) - 1)
    combined = {arm: (w @ means[arm], (w**2) @ variances[arm]) for arm in (0, 1)}
    dof = {
        arm: combined[arm][1] ** 2 / sum((w[p] ** 2 * variances[arm][p]) ** 2 / dofs[arm][p] for p in (0, 1))
        for arm in (0, 1)
    }
    v1, v0 = combined[0][1], combined[1][1]
    df = (v1 + v0) ** 2 / (v1**2 / dof[0] + v0**2 / dof[1])
    delta = combined[0][0] - combined[1][0]
    q = stats.t.isf(0.025, df)
    t_arm = stratified_summary([_clusters(*t) for t, _ in phases], weights)
    c_arm = stratified_summary([_clusters(*c) for _, c in phases], weights)
    result = mean_delta(t_arm, c_arm)
    assert result.delta_s == pytest.approx(delta, rel=REL)
    assert result.ci95_s == pytest.approx((delta - q * math.sqrt(v1 + v0), delta + q * math.sqrt(v1 + v0)), rel=REL)
    welch = clustered_welch(t_arm, c_arm)
    assert welch.df == pytest.approx(df, rel=REL)
    assert welch.p == pytest.approx(2 * stats.t.sf(abs(delta) / math.sqrt(v1 + v0), df), rel=REL)


@pytest.mark.parametrize(("scale", "weight_scale"), [(1e-100, 1.0), (1e-120, 1.0), (1.0, 3e307), (1.0, 1e-300)])
def test_tiny_values_and_extreme_weights_keep_the_stratified_formulas(scale, weight_scale):
    # Reference: w = weights / sum, mean = w @ means, v = (w**2) @ (var / n), Satterthwaite
    # dof = v**2 / sum((w**2 var / n)**2 / (n - 1)), worked with numpy at scale 1. At 1e-100 the squared
    # parts underflow (they divided 0 by 0); weights of 3e307 summed to inf (every share 0).
    rng = np.random.default_rng(11)
    strata = [rng.gamma(4.0, 3.0, 40), rng.gamma(4.0, 3.5, 25), rng.gamma(3.0, 5.0, 60)]
    weights = np.array([2.0, 3.0, 5.0])
    w = weights / weights.sum()
    parts = np.array([w[p] ** 2 * x.var(ddof=1) / x.size for p, x in enumerate(strata)])
    dof = parts.sum() ** 2 / sum(parts[p] ** 2 / (x.size - 1) for p, x in enumerate(strata))
    combined = stratified_summary([SampleSummary.from_values(x * scale) for x in strata], list(weights * weight_scale))
    assert combined.shift + combined.offset == pytest.approx(scale * (w @ [x.mean() for x in strata]), rel=REL)
    assert combined.variance_of_mean == pytest.approx(scale**2 * parts.sum(), rel=REL)
    assert combined.dof == pytest.approx(dof, rel=REL)


def test_a_stratum_without_a_variance_says_which():
    one = ClusterSummary.from_clusters([3], [1.5], shift=10.0)
    many = ClusterSummary.from_clusters([1, 2, 3], [0.5, 1.0, 2.5], shift=10.0)
    combined = stratified_summary([many, one], [1, 1], ["v5 (phase 1)", "v5 (phase 2)"])
    assert isinstance(combined, StratifiedSummary) and combined.variance_of_mean is None
    assert combined.missing == "only 1 interaction in v5 (phase 2)"
    assert mean_delta(combined, stratified_summary([many], [1])).missing == "only 1 interaction in v5 (phase 2)"


def test_bad_strata_are_refused():
    arm = ClusterSummary.from_clusters([1, 2], [0.5, 1.0], shift=0.0)
    with pytest.raises(ValueError, match="weights"):
        stratified_summary([arm], [1, 2])
    with pytest.raises(ValueError, match="> 0"):
        stratified_summary([arm], [0])
    with pytest.raises(ValueError, match="empty"):
        stratified_summary([arm, ClusterSummary.empty()], [1, 1])
    assert stratified_summary([], []) is None
    assert stratified_summary([SampleSummary.from_values([1.0, 2.0])], [1]).dof == 1


def _coverage(runs, seed, effect_s):
    """Share of runs whose 95% CI holds the true delta: (interaction level, selection level), and
    the share of runs with interaction-level p < 0.05."""
    clustered = selection = rejected = 0
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        treatment, control = _arm(rng, 300, effect_s), _arm(rng, 100)
        by_interaction = mean_delta(_clusters(*treatment), _clusters(*control))
        by_selection = mean_delta(SampleSummary.from_values(treatment[0]), SampleSummary.from_values(control[0]))
        clustered += by_interaction.ci95_s[0] <= effect_s <= by_interaction.ci95_s[1]
        selection += by_selection.ci95_s[0] <= effect_s <= by_selection.ci95_s[1]
        rejected += not by_interaction.ci95_s[0] <= 0 <= by_interaction.ci95_s[1]
    return clustered / runs, selection / runs, rejected / runs


@pytest.mark.slow
def test_interaction_level_ci_covers_and_selection_level_does_not():
    """2,000 seeded runs, 1-8 selections per interaction, ICC 0.3, true delta -1.2 s.

    Recorded: interaction-level coverage 0.9535, selection-level 0.795.
    """
    clustered, selection, _ = _coverage(2000, 20261203, effect_s=-1.2)
    assert 0.935 <= clustered <= 0.965, f"interaction-level coverage {clustered:.4f}"
    assert selection < 0.9, f"selection-level coverage {selection:.4f} should fall short under clustering"


@pytest.mark.slow
def test_aa_false_positive_rate_holds_its_level():
    """2,000 seeded A/A runs: the interaction-level test rejects inside Binomial(2000, 0.05)'s 95% interval.

    Recorded: 0.0455.
    """
    runs = 2000
    _, _, rate = _coverage(runs, 20261204, effect_s=0.0)
    low, high = stats.binom.ppf([0.025, 0.975], runs, 0.05) / runs
    assert low <= rate <= high, f"A/A rate {rate:.4f} outside [{low:.4f}, {high:.4f}]"
