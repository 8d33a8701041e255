"""plan_comparison, boundary_multiplier and covariate_correlation: by hand, statsmodels, and simulated power."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower

from abkit.stats import (
    ClusterSummary,
    CupedSummary,
    boundary_multiplier,
    clustered_welch,
    confidence_sequence,
    covariate_correlation,
    cuped_delta,
    interaction_variance,
    plan_comparison,
)
from abkit.stats.planning import MAX_PLANNING_DAYS

Z_ALPHA, Z_POWER = stats.norm.isf(0.025), stats.norm.ppf(0.8)


def _plan(**overrides):
    arguments = dict(
        arms=("v4", "holdout"),
        interactions_per_day=(0.98 * 20_000, 0.02 * 20_000),
        variance_per_interaction=(100.0, 144.0),
        saving_s=0.5,
        cuped_rho=0.5,
    )
    arguments.update(overrides)
    return plan_comparison(**arguments)


def test_fixed_mde_is_statsmodels_normal_power_at_80_percent():
    # equal variances per interaction (sd 10 s): NormalIndPower's standardised effect times the sd
    plan = _plan(variance_per_interaction=(100.0, 100.0))
    for row in plan.horizons:
        n_treatment, n_holdout = 0.98 * 20_000 * row.days, 0.02 * 20_000 * row.days
        power = NormalIndPower().power(
            effect_size=row.fixed_s / 10.0, nobs1=n_treatment, alpha=0.05, ratio=n_holdout / n_treatment
        )
        # statsmodels counts the opposite tail too (about 1e-6 of power here)
        assert power == pytest.approx(0.8, rel=1e-5)


def test_mde_and_days_by_hand():
    plan = _plan()
    se_one_day = math.sqrt(100.0 / 19_600 + 144.0 / 400)  # V1 = v_t / u_t + v_c / u_c
    assert plan.se_one_day_s == pytest.approx(se_one_day, rel=1e-12)
    fourteen = plan.horizons[1]
    assert fourteen.days == 14 and fourteen.interactions == pytest.approx(20_000 * 14)
    assert fourteen.fixed_s == pytest.approx((Z_ALPHA + Z_POWER) * se_one_day / math.sqrt(14), rel=1e-12)
    # CUPED: variance times 1 - rho^2 = 0.75, so the MDE times sqrt(0.75) and the days times 0.75
    assert fourteen.cuped_s == pytest.approx(fourteen.fixed_s * math.sqrt(0.75), rel=1e-12)
    fixed_days = ((Z_ALPHA + Z_POWER) * se_one_day / 0.5) ** 2
    assert plan.days_to_detect.fixed == pytest.approx(fixed_days, rel=1e-12)
    assert plan.days_to_detect.cuped == pytest.approx(0.75 * fixed_days, rel=1e-12)


def test_sequential_mde_uses_the_reports_confidence_sequence():
    plan = _plan()
    for row in plan.horizons:
        se = plan.se_one_day_s / math.sqrt(row.days)
        # the half-width confidence_sequence draws at this N and variance (n_star 5,000, as the report)
        sequence = confidence_sequence(0.0, se * se, int(row.interactions))
        half_width = sequence.ci95_s[1]
        assert row.sequential_s == pytest.approx(half_width + Z_POWER * se, rel=1e-9)
        assert row.sequential_penalty == pytest.approx(half_width / (Z_ALPHA * se), rel=1e-9)
        assert row.sequential_penalty > 1  # the price of reading the interval every day
        assert row.sequential_cuped_s == pytest.approx(row.sequential_s * math.sqrt(0.75), rel=1e-12)


def test_sequential_days_reach_the_saving_exactly():
    plan = _plan()
    for days, se_scale in ((plan.days_to_detect.sequential, 1.0), (plan.days_to_detect.sequential_cuped, 0.75**0.5)):
        assert days > plan.days_to_detect.fixed
        se = plan.se_one_day_s * se_scale / math.sqrt(days)
        multiplier = boundary_multiplier(20_000 * days)
        assert (multiplier + Z_POWER) * se == pytest.approx(0.5, rel=1e-8)


def test_boundary_multiplier_by_hand():
    # rho^2 = (-2 log 0.05 + log(1 - 2 log 0.05)) / 5000; a = N rho^2 (Waudby-Smith et al., eq. 9)
    rho2 = (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 5000
    a = 5000 * rho2
    assert boundary_multiplier(5000) == pytest.approx(math.sqrt((a + 1) / a * (math.log(a + 1) - 2 * math.log(0.05))))
    with pytest.raises(ValueError, match="units"):
        boundary_multiplier(0)


def test_without_rho_no_cuped_figures_and_far_savings_are_none():
    plan = _plan(cuped_rho=None, saving_s=0.001)
    assert all(row.cuped_s is None and row.sequential_cuped_s is None for row in plan.horizons)
    assert plan.days_to_detect.cuped is None and plan.days_to_detect.sequential_cuped is None
    # 0.001 s needs far more than ten years of this traffic
    assert plan.days_to_detect.fixed is None and plan.days_to_detect.sequential is None
    assert MAX_PLANNING_DAYS == 3650
    # a saving so far out of reach that the days overflow a float is out of reach too (the float's
    # ** 2 raised OverflowError)
    tiny = _plan(saving_s=1e-160)
    assert tiny.days_to_detect.fixed is None and tiny.days_to_detect.sequential is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"saving_s": 0.0}, "saving_s"),
        ({"saving_s": math.inf}, "saving_s"),
        ({"interactions_per_day": (0.0, 10.0)}, r"interactions_per_day\[v4\]"),
        ({"variance_per_interaction": (1.0, -1.0)}, r"variance_per_interaction\[holdout\]"),
        ({"cuped_rho": 1.5}, "cuped_rho"),
        ({"horizons_days": (0,)}, "horizon"),
        ({"power": 1.0}, "power"),
    ],
)
def test_bad_inputs_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        _plan(**overrides)


def test_covariate_correlation_is_the_pooled_within_arm_correlation():
    # one selection per interaction: e_i and d_i are y and x about their arm's means, so rho is the
    # correlation of the within-arm deviations, pooled (numpy on the concatenated deviations)
    rng = np.random.default_rng(5)
    arms, deviations = [], []
    for size, offset in ((400, 0.0), (60, 3.0)):
        x = rng.normal(offset, 2.0, size)
        y = 0.8 * x + rng.normal(0, 2.0, size)
        arms.append(CupedSummary.from_clusters(np.ones(size), y, x, shift=0.0))
        deviations.append((y - y.mean(), x - x.mean()))
    pooled_y = np.concatenate([d[0] for d in deviations])
    pooled_x = np.concatenate([d[1] for d in deviations])
    expected = np.sum(pooled_y * pooled_x) / math.sqrt(np.sum(pooled_y**2) * np.sum(pooled_x**2))
    assert covariate_correlation(arms) == pytest.approx(expected, rel=1e-9)
    # and rho^2 is the variance reduction CUPED achieves on two arms alike (theta = C / V_x)
    assert covariate_correlation([arms[0]]) ** 2 == pytest.approx(cuped_delta(arms[0], arms[0]).variance_reduction)


def test_covariate_correlation_without_a_varying_covariate_is_none():
    flat = CupedSummary.from_clusters([1, 2, 3], [1.0, 4.0, 2.0], [0.0, 0.0, 0.0], shift=0.0)
    assert covariate_correlation([flat]) is None
    assert covariate_correlation([]) is None


def _arm(rng, interactions, effect_s, size_cap=6):
    """Interactions of 1..size_cap selections, an interaction effect (sd 3 s) and selection noise (sd 4 s)."""
    sizes = rng.integers(1, size_cap + 1, interactions)
    sums = sizes * (effect_s + rng.normal(0, 3, interactions)) + rng.normal(0, 4, interactions) * np.sqrt(sizes)
    return ClusterSummary.from_clusters(sizes, sums, shift=0.0)


def test_predicted_mde_gives_eighty_percent_power_on_simulated_traffic():
    # A pilot week measures the variance per interaction, as abkit power does from the store; then
    # 1,000 simulated 7-day experiments with the predicted MDE as true saving must reject ~80% of the
    # time, fixed-horizon (clustered Welch p < 0.05) and sequential (the confidence sequence excludes 0).
    rng = np.random.default_rng(20261203)
    per_day = (80, 20)
    pilot = [_arm(rng, 7 * n, 0.0) for n in per_day]
    plan = plan_comparison(
        ("treatment", "holdout"), per_day, tuple(interaction_variance(arm) for arm in pilot), 1.0, horizons_days=(7,)
    )
    week = plan.horizons[0]
    fixed = sequential = 0
    runs = 1000
    for _ in range(runs):
        treatment, holdout = _arm(rng, 7 * per_day[0], -week.fixed_s), _arm(rng, 7 * per_day[1], 0.0)
        fixed += clustered_welch(treatment, holdout).p < 0.05
        treatment = _arm(rng, 7 * per_day[0], -week.sequential_s)
        welch = clustered_welch(treatment, holdout)
        interval = confidence_sequence(welch.delta, welch.se**2, 7 * sum(per_day)).ci95_s
        sequential += interval[1] < 0
    # central 99.9% binomial interval around 0.8 (the pilot's variance estimate adds a little spread)
    low, high = stats.binom.ppf([0.0005, 0.9995], runs, 0.8) / runs
    assert low - 0.02 <= fixed / runs <= high + 0.02, fixed / runs
    assert low - 0.02 <= sequential / runs <= high + 0.02, sequential / runs
