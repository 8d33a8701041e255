"""Input checks: counts and numbers as SQL drivers return them are accepted; bad ones are named."""

from decimal import Decimal

import numpy as np
import pytest

from abkit.stats._checks import finite, whole_count


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
