"""mde and days_to_detect: the power equation by hand, statsmodels, and a simulated power check."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower

from abkit.stats import ClusterSummary, SampleSummary, days_to_detect, design_effect, mde, welch_test


def test_mde_solves_the_normal_power_equation():
    value = mde(8.0, 98_000, 2_000)
    se = 8.0 * math.sqrt(1 / 98_000 + 1 / 2_000)
    # by hand: power = Phi(MDE / se - z_{0.975}) (ignoring the opposite tail)
    assert stats.norm.cdf(value / se - stats.norm.isf(0.025)) == pytest.approx(0.8, rel=1e-9)
    # statsmodels counts the opposite tail too (about 1e-6 here), hence the looser tolerance
    sm_power = NormalIndPower().power(effect_size=value / 8.0, nobs1=98_000, alpha=0.05, ratio=2_000 / 98_000)
    assert sm_power == pytest.approx(0.8, rel=1e-5)


def test_mde_design_effect_and_degenerate_inputs():
    assert mde(8.0, 1000, 1000, design_effect=4.0) == pytest.approx(2 * mde(8.0, 1000, 1000), rel=1e-12)
    assert mde(None, 10, 10) is None
    assert mde(8.0, 0, 10) is None
    assert mde(0.0, 10, 10) == 0.0
    # (z_0.975 + z_0.8) * 1e308 * sqrt(2) is past a float's range (about 1.8e308): no MDE to give
    assert mde(1e308, 1, 1) is None


def test_days_to_detect_sizes_a_two_percent_holdout():
    result = days_to_detect(saving_s=0.5, sd_s=8.0, selections_per_day=20_000)
    z = stats.norm.isf(0.025) + stats.norm.ppf(0.8)
    n_total = (z * 8.0 / 0.5) ** 2 * (1 / 0.02 + 1 / 0.98)  # worked by hand
    assert result.missing is None
    assert result.n_total == pytest.approx(n_total, rel=1e-12)
    assert result.days == pytest.approx(n_total / 20_000, rel=1e-12)
    assert result.whole_days == math.ceil(n_total / 20_000)
    assert (result.n_holdout, result.n_treatment) == (math.ceil(0.02 * n_total), math.ceil(0.98 * n_total))
    # the rounded-up design reaches the saving; one holdout selection fewer does not
    assert mde(8.0, result.n_treatment, result.n_holdout) <= 0.5 < mde(8.0, result.n_treatment, result.n_holdout - 1)


def test_days_scale_with_the_design_effect_and_inverse_square_of_saving():
    base = days_to_detect(0.5, 8.0, 20_000)
    assert days_to_detect(0.25, 8.0, 20_000).days == pytest.approx(4 * base.days, rel=1e-12)
    assert days_to_detect(-0.5, 8.0, 20_000).days == pytest.approx(base.days, rel=1e-12)
    assert days_to_detect(0.5, 8.0, 20_000, design_effect=2.5).days == pytest.approx(2.5 * base.days, rel=1e-12)


def test_simulated_power_of_the_sized_design():
    # Size a 20% holdout for a 0.5 sd saving, then run 1,000 experiments with that true saving.
    design = days_to_detect(saving_s=0.5, sd_s=1.0, selections_per_day=100, holdout_share=0.2)
    rng = np.random.default_rng(11)
    rejections = 0
    for _ in range(1000):
        holdout = rng.normal(0.0, 1.0, design.n_holdout)
        treatment = rng.normal(-0.5, 1.0, design.n_treatment)
        rejections += welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(holdout)).p < 0.05
    # The design promises 0.8 under the normal approximation; the t-test's exact power (noncentral t,
    # equal variances, df = n - 2) is a little lower at ~40 holdout units. Both must be near 0.8, and the
    # simulated count must fall in the Binomial(1000, exact power) 99.9% interval.
    se = math.sqrt(1 / design.n_holdout + 1 / design.n_treatment)
    df = design.n_holdout + design.n_treatment - 2
    critical = stats.t.isf(0.025, df)
    exact = stats.nct.sf(critical, df, 0.5 / se) + stats.nct.cdf(-critical, df, 0.5 / se)
    assert 0.79 < exact < 0.81
    low, high = stats.binom.ppf([0.0005, 0.9995], 1000, exact)
    assert low <= rejections <= high


def test_design_effect_of_clustered_selections():
    rng = np.random.default_rng(12)
    sizes = rng.integers(5, 16, 400)  # about 10 selections per interaction
    ids = np.repeat(np.arange(400), sizes)
    values = rng.normal(0, 1, 400)[ids] + rng.normal(0, 1, ids.size)  # ICC = 0.5
    deff = design_effect(SampleSummary.from_values(values), ClusterSummary.from_values(values, ids))
    # Kish: 1 + (m - 1) ICC with m ~ 10.5 (size-weighted m slightly larger), sampling noise aside
    assert 4.0 < deff < 8.0
    singletons = rng.normal(0, 1, 300)
    assert design_effect(
        SampleSummary.from_values(singletons), ClusterSummary.from_values(singletons, np.arange(300))
    ) == pytest.approx(1.0, rel=1e-9)
    assert design_effect(SampleSummary.from_values([1.0]), ClusterSummary.from_values([1.0], [0])) is None


def test_nothing_to_size_gives_reasons():
    assert days_to_detect(0.0, 8.0, 100).missing == "a saving of 0 s cannot be detected"
    zero_sd = days_to_detect(0.5, 0.0, 100)
    assert zero_sd.missing == "sd_s = 0: no noise to size against" and zero_sd.to_dict()["days"] is None


@pytest.mark.parametrize(
    ("saving_s", "sd_s", "per_day"), [(1e-300, 1e300, 100.0), (1e-160, 8.0, 100.0), (0.5, 8.0, 1e-306)]
)
def test_a_design_too_large_for_a_float_gives_a_reason(saving_s, sd_s, per_day):
    # (z * sd / saving)^2 or N / per_day overflows to inf; math.ceil(inf) raised OverflowError
    result = days_to_detect(saving_s, sd_s, per_day)
    assert result.missing == "the selections or days needed are too many to represent (saving far below sd_s)"
    assert result.days is None and result.whole_days is None and result.n_total is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sd_s": -1.0}, "sd_s must be >= 0"),
        ({"selections_per_day": 0.0}, "selections_per_day"),
        ({"holdout_share": 1.0}, "holdout_share"),
        ({"alpha": 1.5}, "alpha"),
        ({"power": 0.0}, "power"),
        ({"power": 0.01}, "must exceed alpha"),
        ({"design_effect": 0.0}, "design_effect"),
        ({"saving_s": float("inf")}, "saving_s"),
    ],
)
def test_bad_input_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        days_to_detect(**{"saving_s": 0.5, "sd_s": 8.0, "selections_per_day": 100.0, **kwargs})


def test_mde_refuses_negative_inputs():
    with pytest.raises(ValueError, match="sd_s"):
        mde(-1.0, 10, 10)
    with pytest.raises(ValueError, match="n_control"):
        mde(1.0, 10, -10)
