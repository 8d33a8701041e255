"""mean_delta: seconds CI against scipy, percent CI by the delta method, degenerate arms."""

import math

import numpy as np
import pytest
from scipy import stats

from abkit.stats import ClusterSummary, SampleSummary, mean_delta, welch_test

OFFSET = 1e9


def _arms(seed: int):
    rng = np.random.default_rng(seed)
    return rng.gamma(4.0, 3.3, 2000), rng.gamma(4.0, 4.8, 45)


@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_seconds_ci_matches_scipy_welch_interval(confidence):
    treatment, control = _arms(0)
    result = mean_delta(SampleSummary.from_values(treatment), SampleSummary.from_values(control), confidence)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    low, high = reference.confidence_interval(confidence)
    assert result.missing is None and result.confidence == confidence
    assert result.delta_s == pytest.approx(treatment.mean() - control.mean(), rel=1e-9)
    assert result.ci95_s[0] == pytest.approx(low, rel=1e-9)
    assert result.ci95_s[1] == pytest.approx(high, rel=1e-9)
    assert result.df == pytest.approx(reference.df, rel=1e-9)


def test_percent_ci_is_the_delta_method_on_the_ratio_of_means():
    treatment, control = _arms(1)
    result = mean_delta(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    m1, m0 = treatment.mean(), control.mean()
    v1, v0 = treatment.var(ddof=1) / treatment.size, control.var(ddof=1) / control.size
    # gradient of m1 / m0 is (1 / m0, -m1 / m0^2); worked with numpy on the raw arrays
    se_ratio = math.sqrt(v1 / m0**2 + m1**2 * v0 / m0**4)
    df = stats.ttest_ind(treatment, control, equal_var=False).df
    q = stats.t.ppf(0.975, df)
    assert result.delta_pct == pytest.approx(100 * (m1 / m0 - 1), rel=1e-9)
    assert result.ci95_pct[0] == pytest.approx(100 * (m1 / m0 - 1 - q * se_ratio), rel=1e-9)
    assert result.ci95_pct[1] == pytest.approx(100 * (m1 / m0 - 1 + q * se_ratio), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-100, 1e-80, 1e100, 1e150])
def test_percent_ci_does_not_depend_on_the_unit(scale):
    # The ratio of means is unit-free: the delta-method interval worked with numpy at scale 1 is the
    # reference. (Its textbook form, m1^2 v0 / m0^4, underflows to 0 / 0 or overflows at these scales.)
    treatment, control = _arms(1)
    m1, m0 = treatment.mean(), control.mean()
    v1, v0 = treatment.var(ddof=1) / treatment.size, control.var(ddof=1) / control.size
    se_ratio = math.sqrt(v1 / m0**2 + m1**2 * v0 / m0**4)
    q = stats.t.ppf(0.975, stats.ttest_ind(treatment, control, equal_var=False).df)
    result = mean_delta(SampleSummary.from_values(treatment * scale), SampleSummary.from_values(control * scale))
    assert result.pct_missing is None
    assert result.delta_pct == pytest.approx(100 * (m1 / m0 - 1), rel=1e-9)
    assert result.ci95_pct[0] == pytest.approx(100 * (m1 / m0 - 1 - q * se_ratio), rel=1e-9)
    assert result.ci95_pct[1] == pytest.approx(100 * (m1 / m0 - 1 + q * se_ratio), rel=1e-9)
    assert result.ci95_s[1] == pytest.approx(scale * (m1 - m0 + q * math.sqrt(v1 + v0)), rel=1e-9)


def test_percent_change_too_large_to_represent_gives_a_reason():
    # control mean 1e-306 against a delta of ~2 s: 100 * delta / m0 ~ 2e308 overflows a float
    result = mean_delta(SampleSummary.from_values([1.0, 2.0, 3.0]), SampleSummary.from_values([0.0, 2e-306]))
    assert result.ci95_s is not None and result.missing is None
    assert result.delta_pct is None and result.ci95_pct is None
    assert result.pct_missing == "percent change too large to represent: control mean too close to zero"


def test_data_shifted_by_1e9_keeps_the_delta():
    treatment, control = (arm + OFFSET for arm in _arms(2))
    result = mean_delta(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    low, high = stats.ttest_ind(treatment - OFFSET, control - OFFSET, equal_var=False).confidence_interval()
    assert result.ci95_s[0] == pytest.approx(low, rel=1e-9)
    assert result.ci95_s[1] == pytest.approx(high, rel=1e-9)
    assert result.delta_pct == pytest.approx(100 * result.delta_s / np.mean(control), rel=1e-9)


def test_clustered_summaries_give_a_wider_interval_around_the_same_delta():
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 12, 300)
    ids = np.repeat(np.arange(300), sizes)
    values = 15 + rng.normal(0, 4, 300)[ids] + rng.normal(0, 2, ids.size)
    half = ids < 150
    treatment, control = values[half] - 1.0, values[~half]
    plain = mean_delta(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    clustered = mean_delta(
        ClusterSummary.from_values(treatment, ids[half]), ClusterSummary.from_values(control, ids[~half])
    )
    welch = welch_test(SampleSummary.from_values(treatment), SampleSummary.from_values(control))
    assert clustered.delta_s == pytest.approx(plain.delta_s, rel=1e-9) == pytest.approx(welch.delta, rel=1e-9)
    assert clustered.ci95_s[1] - clustered.ci95_s[0] > 1.5 * (plain.ci95_s[1] - plain.ci95_s[0])


def test_empty_arm_gives_no_delta():
    result = mean_delta(SampleSummary.from_values([1.0, 2.0]), SampleSummary.empty(), labels=("v1", "holdout"))
    assert result.delta_s is None and result.ci95_s is None and result.delta_pct is None
    assert result.missing == result.pct_missing == "no selections in holdout"


def test_n_equal_one_keeps_the_point_estimate_but_not_the_interval():
    result = mean_delta(SampleSummary.from_values([10.0, 12.0, 14.0]), SampleSummary.from_values([16.0]))
    assert result.delta_s == -4.0 and result.delta_pct == pytest.approx(-25.0)
    assert result.ci95_s is None and result.ci95_pct is None
    assert result.missing == result.pct_missing == "n = 1 in control"


def test_zero_variance_in_both_arms():
    result = mean_delta(SampleSummary.from_values([3.0, 3.0]), SampleSummary.from_values([4.0, 4.0]))
    assert result.delta_s == -1.0 and result.ci95_s is None
    assert result.missing == "zero variance in both arms"


def test_zero_control_mean_gives_seconds_but_no_percent():
    result = mean_delta(SampleSummary.from_values([1.0, 2.0, 3.0]), SampleSummary.from_values([-1.0, 1.0]))
    assert result.missing is None and result.ci95_s is not None
    assert result.delta_pct is None and result.ci95_pct is None
    assert result.pct_missing == "control mean is zero"
    assert "NaN" not in str(result.to_dict())


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95])
def test_confidence_out_of_range_is_refused(confidence):
    with pytest.raises(ValueError, match="confidence"):
        mean_delta(SampleSummary.from_values([1.0, 2.0]), SampleSummary.from_values([1.0, 3.0]), confidence)


def test_to_dict_gives_lists():
    result = mean_delta(SampleSummary.from_values([1.0, 2.0, 4.0]), SampleSummary.from_values([2.0, 5.0, 6.0]))
    payload = result.to_dict()
    assert isinstance(payload["ci95_s"], list) and isinstance(payload["ci95_pct"], list)
    assert set(payload) == {"delta_s", "ci95_s", "delta_pct", "ci95_pct", "missing", "pct_missing", "df", "confidence"}
