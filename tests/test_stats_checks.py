"""Input checks: counts and numbers as SQL drivers return them are accepted; bad ones are named."""

from decimal import Decimal

import numpy as np
import pytest

from abkit.stats import SampleSummary, mann_kendall, mde, mean_delta, srm_test
from abkit.stats._checks import finite, level, whole_count


@pytest.mark.parametrize("value", [0, 7, np.int64(7), 7.0, Decimal("7")])  # PostgreSQL SUM(bigint) is numeric
def test_whole_count_accepts_integral_values(value):
    assert whole_count(value, "n") == int(value)


@pytest.mark.parametrize("value", [-1, 2.5, True, float("inf"), float("nan"), "7", None])
def test_whole_count_refuses_with_the_field_name(value):
    with pytest.raises(ValueError, match="n_holdout must be a non-negative integer"):
        whole_count(value, "n_holdout")


@pytest.mark.parametrize("value", [0, -2.5, np.float32(1.5), Decimal("1e9")])
def test_finite_accepts_numbers(value):
    assert finite(value, "total") == float(value)


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), None, "x"])
def test_finite_refuses_with_the_field_name(value):
    with pytest.raises(ValueError, match="total must be a finite number"):
        finite(value, "total")


@pytest.mark.parametrize("value", [0.05, np.float64(0.5), Decimal("0.999")])
def test_level_accepts_probabilities(value):
    assert level(value, "alpha") == float(value)


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, 95, float("nan"), float("inf"), None, "x", True])
def test_level_refuses_with_the_field_name(value):
    with pytest.raises(ValueError, match="alpha must be strictly between 0 and 1"):
        level(value, "alpha")


ARMS = (SampleSummary.from_values([1.0, 2.0, 4.0]), SampleSummary.from_values([2.0, 3.0]))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        # None used to raise TypeError ('<' not supported), and mean_ci(1.5) returned (nan, nan)
        (lambda bad: mean_delta(*ARMS, confidence=bad), "confidence"),
        (lambda bad: ARMS[0].mean_ci(bad), "confidence"),
        (lambda bad: srm_test({"a": 1, "b": 2}, {"a": 1, "b": 1}, threshold=bad), "threshold"),
        (lambda bad: mann_kendall([1.0, 3.0, 2.0, 4.0], alpha=bad), "alpha"),
        (lambda bad: mde(1.0, 10, 10, alpha=bad), "alpha"),
        (lambda bad: mde(1.0, 10, 10, power=bad), "power"),
    ],
)
@pytest.mark.parametrize("bad", [None, 1.5, float("nan")])
def test_public_functions_refuse_a_level_that_is_not_a_probability(call, name, bad):
    with pytest.raises(ValueError, match=f"{name} must be strictly between 0 and 1"):
        call(bad)
