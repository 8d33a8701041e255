"""srm_test against scipy.stats.chisquare, and its refusals."""

import numpy as np
import pytest
from scipy import stats

from abkit.stats import DEFAULT_SRM_THRESHOLD, srm_test


@pytest.mark.parametrize(
    ("observed", "shares"),
    [
        ({"holdout": 20, "v1": 1000}, {"holdout": 0.02, "v1": 0.98}),
        ({"holdout": 1890, "v3": 49_100, "v4": 48_800}, {"holdout": 0.02, "v3": 0.49, "v4": 0.49}),
        ({"holdout": 5, "v1": 95}, {"holdout": 2, "v1": 98}),  # weights on any scale
        # weights whose total overflows a float (fsum raised OverflowError)
        ({"holdout": 1890, "v3": 49_100, "v4": 48_800}, {"holdout": 4e306, "v3": 9.8e307, "v4": 9.8e307}),
    ],
)
def test_matches_scipy_chisquare(observed, shares):
    result = srm_test(observed, shares)
    counts = np.array([observed[arm] for arm in shares])
    weights = np.array([shares[arm] for arm in shares], dtype=float)
    weights /= weights.max()
    reference = stats.chisquare(counts, counts.sum() * weights / weights.sum())
    assert result.missing is None
    assert result.chi2 == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == len(shares) - 1
    assert result.flag is bool(reference.pvalue < DEFAULT_SRM_THRESHOLD)


def test_counts_past_1e154_keep_a_finite_chi2():
    # two equal arms: chi2 = (a - b)^2 / (a + b) by hand; squaring a gap of 5e199 raised OverflowError
    result = srm_test({"a": 10**200, "b": 1}, {"a": 1, "b": 1})
    assert result.chi2 == pytest.approx(1e200, rel=1e-9)
    assert result.p == 0.0 and result.flag is True


def test_a_real_mismatch_is_flagged():
    result = srm_test({"holdout": 400, "v1": 10_000}, {"holdout": 0.02, "v1": 0.98})
    assert result.p < 1e-6 and result.flag is True
    assert srm_test({"holdout": 400, "v1": 10_000}, {"holdout": 0.02, "v1": 0.98}, threshold=1e-300).flag is False


def test_configured_arm_without_units_counts_as_zero():
    result = srm_test({"v1": 980}, {"holdout": 0.02, "v1": 0.98})
    assert result.observed == {"v1": 980, "holdout": 0}
    assert result.chi2 == pytest.approx(stats.chisquare([0, 980], [19.6, 960.4]).statistic, rel=1e-9)
    assert result.flag is True


def test_units_in_an_unconfigured_arm_raise_the_flag_with_a_reason():
    result = srm_test({"holdout": 2, "v1": 98, "v9": 3}, {"holdout": 0.02, "v1": 0.98})
    assert result.flag is True and result.chi2 is None and result.p is None
    assert result.missing == "units in arms with no configured weight: ['v9']"


def test_zero_weight_arm_without_units_is_ignored():
    with_ramped = srm_test({"holdout": 20, "v1": 1000, "v0": 0}, {"holdout": 0.02, "v1": 0.98, "v0": 0.0})
    without = srm_test({"holdout": 20, "v1": 1000}, {"holdout": 0.02, "v1": 0.98})
    assert with_ramped.chi2 == without.chi2 and with_ramped.df == 1


def test_degenerate_inputs_give_reasons():
    assert srm_test({}, {"holdout": 0.02, "v1": 0.98}).missing == "no units observed"
    single = srm_test({"v1": 10}, {"v1": 1.0})
    assert single.missing == "fewer than two arms with a configured weight" and single.flag is None
    assert srm_test({}, {"holdout": 0.02, "v1": 0.98}).to_dict()["chi2"] is None


@pytest.mark.parametrize(
    ("observed", "shares", "threshold", "message"),
    [
        ({"v1": -1}, {"v1": 1.0}, 0.001, "observed\\['v1'\\]"),
        ({"v1": 1.5}, {"v1": 1.0}, 0.001, "observed\\['v1'\\]"),
        ({"v1": 1}, {"v1": -1.0, "v2": 2.0}, 0.001, "expected_share must be >= 0"),
        ({"v1": 1}, {"v1": float("nan")}, 0.001, "expected_share\\['v1'\\]"),
        ({"v1": 1}, {"v1": 0.0}, 0.001, "positive total"),
        ({"v1": 1}, {"v1": 1.0}, 0.0, "threshold"),
    ],
)
def test_bad_input_is_refused_by_name(observed, shares, threshold, message):
    with pytest.raises(ValueError, match=message):
        srm_test(observed, shares, threshold)
