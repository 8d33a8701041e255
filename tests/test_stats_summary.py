"""SampleSummary: moments about a shift, exact combination, validation."""

import numpy as np
import pytest

from abkit.stats import SampleSummary

OFFSET = 1e9


def _sample(seed: int, n: int, loc: float = 13.0, scale: float = 4.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, n)


def test_moments_match_numpy():
    values = _sample(1, 1000)
    summary = SampleSummary.from_values(values)
    assert summary.n == 1000
    assert summary.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert summary.variance == pytest.approx(np.var(values, ddof=1), rel=1e-9)
    assert summary.sd == pytest.approx(np.std(values, ddof=1), rel=1e-9)
    assert summary.sem == pytest.approx(np.std(values, ddof=1) / np.sqrt(1000), rel=1e-9)


def test_data_shifted_by_1e9_keeps_its_variance():
    # The shifted array holds x + 1e9 rounded; subtracting 1e9 again is exact (Sterbenz), so the
    # reference is numpy on exactly the same values without the offset.
    shifted = _sample(2, 5000) + OFFSET
    reference = shifted - OFFSET
    summary = SampleSummary.from_values(shifted)
    assert summary.variance == pytest.approx(np.var(reference, ddof=1), rel=1e-9)
    assert summary.mean - OFFSET == pytest.approx(np.mean(reference), rel=1e-9)


def test_sums_about_zero_would_cancel_catastrophically():
    # Why the shift exists: sums of x and x^2 about 0 lose the variance of data offset by 1e9.
    shifted = _sample(3, 5000) + OFFSET
    naive = SampleSummary.from_values(shifted, shift=0.0)
    good = SampleSummary.from_values(shifted)
    truth = np.var(shifted - OFFSET, ddof=1)
    assert good.variance == pytest.approx(truth, rel=1e-9)
    assert naive.variance != pytest.approx(truth, rel=1e-2)


@pytest.mark.parametrize("shifts", [(None, None), (0.0, 50.0), (OFFSET, OFFSET + 1000.0), (None, OFFSET - 3.0)])
def test_add_equals_summary_of_concatenation(shifts):
    left = _sample(4, 700) + OFFSET
    right = _sample(5, 300, loc=40.0, scale=9.0) + OFFSET
    combined = SampleSummary.from_values(left, shift=shifts[0]) + SampleSummary.from_values(right, shift=shifts[1])
    reference = np.concatenate([left, right]) - OFFSET
    assert combined.n == 1000
    if shifts[0] == 0.0:
        # left summed about 0 cannot hold a 1e9-offset variance: only check the right-hand re-centring
        return
    assert combined.mean - OFFSET == pytest.approx(np.mean(reference), rel=1e-9)
    assert combined.variance == pytest.approx(np.var(reference, ddof=1), rel=1e-9)


def test_add_re_centres_far_apart_shifts_exactly():
    # Each part is summed about a shift close to its own data; the parts lie 2e6 apart.
    left = _sample(6, 400)
    right = _sample(7, 600, loc=30.0) + 2e6
    combined = SampleSummary.from_values(left, shift=10.0) + SampleSummary.from_values(right, shift=2e6 + 25.0)
    reference = np.concatenate([left, right])
    assert combined.shift == 10.0
    assert combined.mean == pytest.approx(np.mean(reference), rel=1e-12)
    assert combined.variance == pytest.approx(np.var(reference, ddof=1), rel=1e-9)


def test_empty_is_identity_and_sum_works():
    part = SampleSummary.from_values([1.0, 2.0, 4.0])
    assert part + SampleSummary.empty() == part
    assert SampleSummary.empty() + part == part
    parts = [SampleSummary.from_values(chunk) for chunk in np.array_split(_sample(8, 90), 3)]
    assert sum(parts).variance == pytest.approx(np.var(_sample(8, 90), ddof=1), rel=1e-9)


def test_degenerate_sizes_give_none_not_nan():
    empty = SampleSummary.from_values([])
    assert (empty.n, empty.mean, empty.variance, empty.sd, empty.sem) == (0, None, None, None, None)
    one = SampleSummary.from_values([5.0])
    assert one.mean == 5.0 and one.variance is None and one.sd is None
    constant = SampleSummary.from_values([7.0] * 4)
    assert constant.variance == 0.0 and constant.sem == 0.0


def test_sql_null_sums_of_an_empty_group_are_zero():
    summary = SampleSummary(n=0, shift=0.0, total=None, total_sq=None)
    assert summary == SampleSummary.empty()
    assert SampleSummary(n=np.int64(3), shift=0, total=3, total_sq=5).n == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1, "shift": 0.0, "total": 0.0, "total_sq": 0.0}, "n must be"),
        ({"n": 2.5, "shift": 0.0, "total": 0.0, "total_sq": 0.0}, "n must be"),
        ({"n": 2, "shift": float("nan"), "total": 0.0, "total_sq": 0.0}, "shift must be"),
        ({"n": 2, "shift": 0.0, "total": None, "total_sq": 0.0}, "total must be"),
        ({"n": 2, "shift": 0.0, "total": 1.0, "total_sq": -1.0}, "total_sq must be"),
        ({"n": 0, "shift": 0.0, "total": 1.0, "total_sq": 1.0}, "empty summary"),
    ],
)
def test_invalid_fields_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SampleSummary(**kwargs)


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="finite"):
        SampleSummary.from_values([1.0, float("nan")])


def test_to_dict_is_json_safe():
    assert SampleSummary.from_values([1.0, 3.0]).to_dict() == {"n": 2, "shift": 1.0, "total": 2.0, "total_sq": 4.0}


@pytest.mark.parametrize("seed", range(20))
def test_property_any_split_adds_back_to_the_whole(seed):
    rng = np.random.default_rng([42, seed])
    values = rng.normal(rng.uniform(-1e6, 1e6), rng.uniform(0.1, 100), rng.integers(2, 500))
    cuts = np.sort(rng.integers(0, values.size, rng.integers(1, 6)))
    parts = [SampleSummary.from_values(part) for part in np.split(values, cuts)]
    combined = sum(parts[1:], parts[0])
    assert combined.n == values.size
    assert combined.mean == pytest.approx(np.mean(values), rel=1e-9, abs=1e-6)
    assert combined.variance == pytest.approx(np.var(values, ddof=1), rel=1e-9)


def test_mean_ci_is_scipys_student_t_interval():
    from scipy import stats

    values = _sample(3, 25) + OFFSET
    summary = SampleSummary.from_values(values)
    expected = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert summary.mean_ci() == pytest.approx(expected, abs=1e-6)
    assert SampleSummary.from_values([4.0]).mean_ci() is None and SampleSummary.empty().mean_ci() is None
