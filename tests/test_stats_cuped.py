"""CUPED from interaction-level sums: golden values against statsmodels, coverage and width by simulation."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize

from abkit.stats import (
    ClusterSummary,
    CupedSummary,
    confidence_sequence,
    cuped_delta,
    mean_delta,
    pooled_theta,
    stratified_cuped_delta,
)

SHIFT = 15.0


def _interactions(rng, k, effect=0.0, sizes=(1, 9), related=True):
    """Per interaction: n_i selections, selection times, and the advocate's pre-period covariate x_i.

    The advocate's speed a_i (sd 2 s) is in the selections and, when `related`, in the covariate plus
    pre-period noise (variance 7.45); otherwise the covariate is independent noise of the same variance
    (11.45). Selections add skewed gamma noise (sd 3 s). With n_i uniform on 1..8 (E n = 4.5,
    E n^2 = 25.5) the correlation of the linearised terms n_i (a_i - mean) + noise and n_i (x_i - mean) is
    rho^2 = (25.5 * 4)^2 / ((25.5 * 4 + 4.5 * 9) * 25.5 * 11.45) = 0.250, rho = 0.5.
    Returns (n, interaction id per selection, selection times, x).
    """
    n = rng.integers(sizes[0], sizes[1], k)
    speed = rng.normal(0, 2, k)
    ids = np.repeat(np.arange(k), n)
    times = SHIFT + effect + speed[ids] + rng.gamma(4.0, 1.5, ids.size) - 6.0
    x = speed + rng.normal(0, np.sqrt(7.45), k) if related else rng.normal(0, np.sqrt(11.45), k)
    return n, ids, times, x


def _summary(n, ids, times, x):
    return CupedSummary.from_clusters(n, np.bincount(ids, weights=times - SHIFT), x, SHIFT)


def _adjusted_arm(ids, times, x, theta):
    """Reference: statsmodels OLS of (time - theta x_i) on a constant, CR1 cluster-robust by interaction."""
    fit = sm.OLS(times - theta * x[ids], np.ones(times.size)).fit(cov_type="cluster", cov_kwds={"groups": ids})
    return fit.params[0], fit.cov_params()[0, 0]


def test_per_arm_adjusted_means_and_variances_match_statsmodels():
    rng = np.random.default_rng(2013)
    treatment, control = _interactions(rng, 400, -1.0), _interactions(rng, 90)
    result = cuped_delta(_summary(*treatment), _summary(*control))
    mean_1, var_1 = _adjusted_arm(*treatment[1:], result.theta)
    mean_0, var_0 = _adjusted_arm(*control[1:], result.theta)
    assert result.delta_s == pytest.approx(mean_1 - mean_0, rel=1e-9)
    assert result.se**2 == pytest.approx(var_1 + var_0, rel=1e-9)
    # theta minimises the variance of the adjusted delta (each arm's statsmodels variance, summed)
    best = optimize.minimize_scalar(
        lambda theta: _adjusted_arm(*treatment[1:], theta)[1] + _adjusted_arm(*control[1:], theta)[1],
        bracket=(0.0, 1.0),
        tol=1e-12,
    )
    assert result.theta == pytest.approx(best.x, rel=1e-6)
    unadjusted = _summary(*treatment).clusters.variance_of_mean + _summary(*control).clusters.variance_of_mean
    assert result.variance_reduction == pytest.approx(1 - result.se**2 / unadjusted, rel=1e-9)
    assert 0.2 < result.variance_reduction < 0.4


def test_one_selection_per_interaction_equal_arms_is_ols_on_arm_and_centred_covariate():
    # With n_i = 1 and equal arm sizes the pooled theta is the OLS slope of y ~ arm + (x - mean x), so the
    # adjusted delta is the OLS arm coefficient exactly (statsmodels, to 1e-9).
    rng = np.random.default_rng(7)
    arms = [_interactions(rng, 250, -0.8, sizes=(1, 2)), _interactions(rng, 250, sizes=(1, 2))]
    result = cuped_delta(_summary(*arms[0]), _summary(*arms[1]))
    times = np.concatenate([arm[2] for arm in arms])
    x = np.concatenate([arm[3] for arm in arms])
    is_treatment = np.repeat([1.0, 0.0], 250)
    fit = sm.OLS(times, np.column_stack([np.ones(500), is_treatment, x - x.mean()])).fit()
    assert result.delta_s == pytest.approx(fit.params[1], rel=1e-9)
    assert result.theta == pytest.approx(fit.params[2], rel=1e-9)


def test_close_to_the_full_cluster_robust_regression():
    """statsmodels OLS y ~ arm + (x - mean x) per selection, CR1 by interaction, differs in second order.

    Its slope is the selection-level OLS slope (each interaction's terms weighted by n_i), while abkit's
    theta minimises the interaction-level variance of the delta (weights n_i^2); both estimate the same
    coefficient here, so the deltas differ by (theta - theta_OLS)(xbar_1 - xbar_0), a product of two
    O(1/sqrt(k)) noises. Its CR1 factor is G/(G-1)(N-1)/(N-3) over both arms against k/(k-1) per arm,
    and its sandwich counts theta's own sampling error, O(1/k). Measured on 400 + 90 interactions:
    theta 0.456 vs 0.386, deltas -1.2115 vs -1.2420 (0.11 standard errors apart), standard errors
    0.2746 vs 0.2752 (0.2%).
    """
    rng = np.random.default_rng(2013)
    treatment, control = _interactions(rng, 400, -1.0), _interactions(rng, 90)
    result = cuped_delta(_summary(*treatment), _summary(*control))
    times = np.concatenate([treatment[2], control[2]])
    x = np.concatenate([treatment[3][treatment[1]], control[3][control[1]]])
    groups = np.concatenate([treatment[1], control[1] + 400])
    is_treatment = np.concatenate([np.ones(treatment[1].size), np.zeros(control[1].size)])
    fit = sm.OLS(times, np.column_stack([np.ones(times.size), is_treatment, x - x.mean()])).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    assert result.delta_s == pytest.approx(fit.params[1], abs=0.2 * result.se)
    assert result.se == pytest.approx(fit.bse[1], rel=0.01)
    assert result.theta == pytest.approx(fit.params[2], abs=3 * fit.bse[2])


def test_adjusted_sums_are_the_sums_of_the_adjusted_outcome():
    rng = np.random.default_rng(12)
    n, ids, times, x = _interactions(rng, 80)
    y = np.bincount(ids, weights=times - SHIFT)
    summary = CupedSummary.from_clusters(n, y, x, SHIFT)
    adjusted = summary.adjusted(0.37)
    # the summary takes x about its mean: z_i = y_i - 0.37 n_i (x_i - mean(x)), about SHIFT
    assert summary.x_shift == pytest.approx(x.mean(), rel=1e-15)
    centred = ClusterSummary.from_clusters(n, y - 0.37 * n * (x - summary.x_shift), SHIFT)
    for name in ("k", "sum_n", "sum_y", "sum_n2", "sum_y2", "sum_ny", "shift"):
        assert getattr(adjusted, name) == pytest.approx(getattr(centred, name), rel=1e-12)
    # about x = 0 instead: the mean moves by 0.37 x_shift, the variance stays
    direct = ClusterSummary.from_clusters(n, y - 0.37 * n * x, SHIFT)
    about_zero = summary.about(0.0).adjusted(0.37)
    assert about_zero.mean == pytest.approx(direct.mean, rel=1e-12)
    assert adjusted.mean == pytest.approx(direct.mean + 0.37 * summary.x_shift, rel=1e-12)
    assert adjusted.variance_of_mean == pytest.approx(direct.variance_of_mean, rel=1e-12)


def test_pooled_theta_over_strata():
    rng = np.random.default_rng(13)
    phases = [(_summary(*_interactions(rng, 150, -1.0)), _summary(*_interactions(rng, 40))) for _ in range(2)]
    # one stratum: the theta of cuped_delta; weights of one stratum do not matter
    assert pooled_theta(phases[:1]) == pytest.approx(cuped_delta(*phases[0]).theta, rel=1e-12)
    assert pooled_theta(phases[:1], [7.0]) == pytest.approx(pooled_theta(phases[:1]), rel=1e-12)

    # two strata: theta minimises sum_p w_p^2 (V_adj,1p + V_adj,0p), the stratified delta's variance
    def variance(theta, weights):
        total = sum(weights)
        return sum(
            (w / total) ** 2 * sum(arm.adjusted(theta).variance_of_mean for arm in pair)
            for pair, w in zip(phases, weights, strict=True)
        )

    for weights in ([1.0, 1.0], [3.0, 1.0]):
        best = optimize.minimize_scalar(lambda theta, w=weights: variance(theta, w), bracket=(0.0, 1.0), tol=1e-12)
        assert pooled_theta(phases, weights) == pytest.approx(best.x, rel=1e-6)
    with pytest.raises(ValueError, match="weights"):
        pooled_theta(phases, [1.0])


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_pooled_theta_and_the_stratified_delta_ignore_the_scale_of_the_weights(scale):
    # theta = sum_p w_p^2 (C_1p + C_0p) / sum_p w_p^2 (V_x1p + V_x0p) is homogeneous of degree 0 in w,
    # and stratified_summary normalises the weights; squaring 1e200 overflowed (theta NaN) and
    # squaring 1e-200 underflowed (theta 0).
    rng = np.random.default_rng(17)
    phases = [(_summary(*_interactions(rng, 150, -1.0)), _summary(*_interactions(rng, 40))) for _ in range(2)]
    plain = pooled_theta(phases, [3.0, 1.0])
    assert pooled_theta(phases, [3.0 * scale, 1.0 * scale]) == pytest.approx(plain, rel=1e-12)
    reference = stratified_cuped_delta(phases, [3.0, 1.0])
    scaled = stratified_cuped_delta(phases, [3.0 * scale, 1.0 * scale])
    assert scaled.missing is None
    for name in ("delta_s", "se", "df", "p", "variance_reduction"):
        assert getattr(scaled, name) == pytest.approx(getattr(reference, name), rel=1e-9)


def test_sums_add_like_the_whole():
    rng = np.random.default_rng(11)
    n, ids, times, x = _interactions(rng, 60)
    sums = np.bincount(ids, weights=times)
    whole = CupedSummary.from_clusters(n, sums - 10.0 * n, x, 10.0)
    halves = CupedSummary.from_clusters(n[:25], sums[:25] - 10.0 * n[:25], x[:25], 10.0) + CupedSummary.from_clusters(
        n[25:], sums[25:] - 20.0 * n[25:], x[25:], 20.0
    )
    # the halves keep the first half's shifts (x about its mean), the whole its own: the same
    # interactions, so the same covariate mean and, about one x_shift, the same adjusted arm
    assert halves.x_shift == pytest.approx(x[:25].mean(), rel=1e-15)
    assert halves.sum_nx / halves.clusters.sum_n + halves.x_shift == pytest.approx(np.dot(n, x) / n.sum(), rel=1e-12)
    for theta in (0.0, 0.37, -2.0):
        together, apart = whole.about(halves.x_shift).adjusted(theta), halves.adjusted(theta)
        assert apart.mean == pytest.approx(together.mean, rel=1e-12)
        assert apart.variance_of_mean == pytest.approx(together.variance_of_mean, rel=1e-12)
    empty = CupedSummary(ClusterSummary.empty(), None, None, None, None)
    assert empty + whole is whole and whole + empty is whole


def test_constant_covariate_changes_nothing():
    rng = np.random.default_rng(5)
    treatment, control = _interactions(rng, 200, -0.5), _interactions(rng, 40)
    flat = [
        CupedSummary.from_clusters(arm[0], np.bincount(arm[1], weights=arm[2] - SHIFT), np.zeros(arm[0].size), SHIFT)
        for arm in (treatment, control)
    ]
    result, plain = cuped_delta(*flat), mean_delta(flat[0].clusters, flat[1].clusters)
    assert result.theta == 0.0 and result.variance_reduction == pytest.approx(0.0, abs=1e-12)
    assert result.delta_s == pytest.approx(plain.delta_s, rel=1e-12)
    assert result.ci95_s == pytest.approx(plain.ci95_s, rel=1e-12)


def test_sequential_on_the_adjusted_estimate():
    rng = np.random.default_rng(9)
    result = cuped_delta(_summary(*_interactions(rng, 300, -1.0)), _summary(*_interactions(rng, 60)))
    sequence = result.sequential(n_star=2000)
    assert sequence == confidence_sequence(result.delta_s, result.se**2, 360, n_star=2000)
    assert sequence.ci95_s[0] < result.ci95_s[0] and result.ci95_s[1] < sequence.ci95_s[1]
    missing = cuped_delta(_summary(*_interactions(rng, 1)), _summary(*_interactions(rng, 5)), labels=("v4", "holdout"))
    assert missing.sequential().missing == "only 1 interaction in v4"


def test_missing_reasons_and_json():
    rng = np.random.default_rng(4)
    some = _summary(*_interactions(rng, 30))
    empty = CupedSummary(ClusterSummary.empty(), 0.0, 0.0, 0.0, 0.0)
    assert cuped_delta(some, empty, labels=("v4", "holdout")).missing == "no selections in holdout"
    constant = CupedSummary.from_clusters([1, 2], [0.0, 0.0], [0.5, -0.5], 12.0)
    flat = cuped_delta(constant, CupedSummary.from_clusters([1, 1], [0.0, 0.0], [1.0, 2.0], 13.0))
    assert flat.missing == "zero variance in both arms" and flat.ci95_s is None and flat.p is None
    assert flat.to_dict()["delta_s"] is not None
    with pytest.raises(ValueError, match="confidence"):
        cuped_delta(some, some, confidence=0.0)
    with pytest.raises(ValueError, match="covariates"):
        CupedSummary.from_clusters([1, 2], [0.0, 1.0], [0.5], 0.0)
    with pytest.raises(ValueError, match="finite"):
        CupedSummary.from_clusters([1, 2], [0.0, 1.0], [0.5, float("nan")], 0.0)
    with pytest.raises(ValueError, match="empty"):
        CupedSummary(ClusterSummary.empty(), 1.0, 0.0, 0.0, 0.0)


def _arm_sums(rng, runs, k, effect, related):
    """`_interactions` for `runs` experiments at once, drawn as per-interaction sums: (runs, k) arrays.

    The sum of n_i gamma(4, 1.5) selection noises is gamma(4 n_i, 1.5), so no selection is drawn.
    """
    n = rng.integers(1, 9, (runs, k)).astype(np.float64)
    speed = rng.normal(0, 2, (runs, k))
    y = n * (effect + speed) + rng.gamma(4.0 * n, 1.5) - 6.0 * n
    x = speed + rng.normal(0, np.sqrt(7.45), (runs, k)) if related else rng.normal(0, np.sqrt(11.45), (runs, k))
    nx = n * x
    columns = (n, y, n * n, y * y, n * y, nx, n * nx, nx * nx, nx * y)
    return np.column_stack([column.sum(axis=1) for column in columns])


def _simulate(runs, k, seed, related, effect=-0.7):
    """Per run: (adjusted delta, its CI low and high, its se, the unadjusted se), k = (treatment, control)."""
    rng = np.random.default_rng(seed)
    arms = [_arm_sums(rng, runs, k[0], effect, related), _arm_sums(rng, runs, k[1], 0.0, related)]
    rows = []
    for run in range(runs):
        first, second = (
            CupedSummary(ClusterSummary(size, int(sums[0]), *sums[1:5], shift=SHIFT), *sums[5:])
            for size, sums in zip(k, (arms[0][run], arms[1][run]), strict=True)
        )
        adjusted = cuped_delta(first, second)
        plain = np.sqrt(first.clusters.variance_of_mean + second.clusters.variance_of_mean)
        rows.append((adjusted.delta_s, *adjusted.ci95_s, adjusted.se, plain))
    return np.asarray(rows)


@pytest.mark.slow
@pytest.mark.parametrize(("related", "narrower"), [(True, 1 - np.sqrt(1 - 0.25)), (False, 0.0)])
def test_coverage_and_width(related, narrower):
    """2,000 experiments of 300 treatment and 100 holdout interactions, true delta -0.7 s.

    Measured (seed 2013): covariate with rho 0.5: coverage 0.941, mean se 0.862 of the unadjusted
    one (theory sqrt(1 - rho^2) = 0.866), mean adjusted delta -0.6955 (se 0.006);
    independent covariate: coverage 0.9425, se ratio 0.995, mean adjusted delta -0.6955 (se 0.007).
    """
    rows = _simulate(2000, (300, 100), seed=2013, related=related)
    delta, low, high = rows[:, 0], rows[:, 1], rows[:, 2]
    coverage = np.mean((low <= -0.7) & (high >= -0.7))
    assert 0.935 <= coverage <= 0.965, f"coverage {coverage:.3f}"
    # the CIs' t quantiles differ by the df only (~130 for both): compare the standard errors
    ratio = np.mean(rows[:, 3]) / np.mean(rows[:, 4])
    assert 1 - ratio == pytest.approx(narrower, abs=0.02), f"width ratio {ratio:.3f}"
    # unbiased: the mean adjusted delta is within 3 standard errors of the truth
    assert abs(delta.mean() + 0.7) < 3 * delta.std() / np.sqrt(delta.size)
    if not related:
        assert abs(1 - ratio) < 0.02


@pytest.mark.parametrize("offset", [1e6, 1e9, -3e8])
def test_a_covariate_far_from_zero_gives_the_figures_of_the_centred_one(offset):
    # CUPED depends on x only through its deviations (theta, the adjusted delta and its variance are
    # unchanged by adding a constant to every x_i); sums about 0 lost 4e-5 of the delta at 1e6 and
    # theta altogether at 1e9
    rng = np.random.default_rng(21)
    treatment, control = _interactions(rng, 300, -0.5), _interactions(rng, 80)

    def summaries(move):
        # x + offset rounds x to the offset's precision; subtracting it back is exact (Sterbenz), so
        # both sides hold the same covariates and differ only in how far from zero they sit
        return [
            CupedSummary.from_clusters(
                arm[0], np.bincount(arm[1], weights=arm[2] - SHIFT), (arm[3] + offset) - offset + move, SHIFT
            )
            for arm in (treatment, control)
        ]

    centred, far = summaries(0.0), summaries(offset)
    expected, got = cuped_delta(*centred), cuped_delta(*far)
    assert expected.theta != 0
    for name in ("delta_s", "se", "df", "p", "theta", "variance_reduction"):
        assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9), name
