"""Always-valid confidence sequences: closed form by hand, against the fixed-horizon CI, and peeking."""

import math

import numpy as np
import pytest
from scipy import stats

from abkit.stats import ClusterSummary, confidence_sequence, mean_delta, sequential_delta
from abkit.stats.sequential import DEFAULT_N_STAR, mixture_rho


def test_rho_closed_form_by_hand():
    # rho^2 n_star = -2 log 0.05 + log(1 - 2 log 0.05) = 5.991464547 + 1.944690054 = 7.936154602
    assert mixture_rho(1) ** 2 == pytest.approx(7.936154601737564, rel=1e-12)
    assert mixture_rho(5000) ** 2 == pytest.approx(7.936154601737564 / 5000, rel=1e-12)


def test_interval_and_p_worked_by_hand():
    # delta = -1, V = 0.25 (se 0.5), N = n_star = 5000, so a = N rho^2 = 7.936154602:
    # half = 0.5 * sqrt(8.936154602 / 7.936154602 * (log 8.936154602 + 5.991464547))
    #      = 0.5 * sqrt(1.126005 * (2.190105 + 5.991465)) = 0.5 * 3.035209 = 1.517604
    # p = sqrt(8.936154602) * exp(-4 * 7.936154602 / (2 * 8.936154602)) = 2.989340 * 0.169282 = 0.506041
    result = confidence_sequence(-1.0, 0.25, 5000, n_star=5000)
    half = 0.5 * math.sqrt(8.936154601737564 / 7.936154601737564 * (math.log(8.936154601737564) - 2 * math.log(0.05)))
    assert half == pytest.approx(1.5176044951881313, rel=1e-12)
    assert result.ci95_s == pytest.approx((-1.0 - half, -1.0 + half), rel=1e-12)
    assert result.p == pytest.approx(
        math.sqrt(8.936154601737564) * math.exp(-2 * 7.936154601737564 / 8.936154601737564)
    )
    assert result.p == pytest.approx(0.506041, abs=1e-6)
    assert (result.delta_s, result.tuning, result.units, result.se, result.missing) == (-1.0, 5000, 5000, 0.5, None)


def test_growthbook_form_of_the_half_width():
    # GrowthBook's gbstats writes it with s2 = V * N (per-unit variance):
    # sqrt(s2) * sqrt(2 (N rho^2 + 1) log(sqrt(N rho^2 + 1) / alpha) / (N rho)^2)
    variance, units, n_star, alpha = 0.04, 1234, 10_000, 0.05
    rho = mixture_rho(n_star)
    s2 = variance * units
    a = units * rho**2
    expected = math.sqrt(s2) * math.sqrt(2 * (a + 1) * math.log(math.sqrt(a + 1) / alpha) / (units * rho) ** 2)
    low, high = confidence_sequence(0.3, variance, units, n_star).ci95_s
    assert (high - low) / 2 == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("delta", [-2.0, -1.1, -0.7, 1.3])
def test_p_is_the_smallest_alpha_whose_sequence_excludes_zero(delta):
    result = confidence_sequence(delta, 0.09, 8000)
    # at confidence 1 - p the sequence touches 0; a little wider it covers 0, a little narrower it does not
    at_p = confidence_sequence(delta, 0.09, 8000, confidence=1 - result.p).ci95_s
    assert min(abs(at_p[0]), abs(at_p[1])) == pytest.approx(0.0, abs=1e-9)
    wider = confidence_sequence(delta, 0.09, 8000, confidence=1 - result.p * 0.99).ci95_s
    narrower = confidence_sequence(delta, 0.09, 8000, confidence=1 - result.p * 1.01).ci95_s
    assert wider[0] < 0 < wider[1]
    assert not narrower[0] < 0 < narrower[1]


def test_p_is_one_near_zero_and_tiny_far_from_it():
    assert confidence_sequence(0.0, 1.0, 100).p == 1.0
    assert confidence_sequence(0.1, 1.0, 100).p == 1.0
    far = confidence_sequence(-50.0, 1.0, 100_000).p
    assert 0.0 < far < 1e-300 or far == 0.0


def test_tightest_at_n_star():
    # with a per-unit variance sigma^2, V = sigma^2 / N; the half-width * sqrt(N) is smallest at N = n_star
    def scaled(units):
        low, high = confidence_sequence(0.0, 4.0 / units, units, n_star=2000).ci95_s
        return (high - low) / 2 * math.sqrt(units)

    widths = {units: scaled(units) for units in (200, 1000, 1800, 2000, 2200, 4000, 20_000)}
    assert min(widths, key=widths.__getitem__) == 2000
    # width at n_star is 1.55 times the fixed-horizon 1.96 se
    assert widths[2000] / (2 * 1.959963984540054) == pytest.approx(1.548604, rel=1e-5)


def _clusters(rng, k, effect=0.0):
    sizes = rng.integers(1, 9, k)
    sums = sizes * (effect + rng.normal(0, 2, k)) + rng.gamma(sizes, 3.0) - 3.0 * sizes
    return ClusterSummary.from_clusters(sizes, sums, shift=15.0)


@pytest.mark.parametrize(("k_treatment", "k_control"), [(10, 10), (40, 12), (2000, 60), (50_000, 1000)])
def test_sequence_contains_the_fixed_horizon_interval(k_treatment, k_control):
    rng = np.random.default_rng([18, k_treatment])
    treatment, control = _clusters(rng, k_treatment, -0.5), _clusters(rng, k_control)
    fixed = mean_delta(treatment, control)
    sequence = sequential_delta(treatment, control)
    assert sequence.delta_s == pytest.approx(fixed.delta_s, rel=1e-12)
    assert sequence.ci95_s[0] < fixed.ci95_s[0] and fixed.ci95_s[1] < sequence.ci95_s[1]
    assert sequence.se**2 == pytest.approx(treatment.variance_of_mean + control.variance_of_mean, rel=1e-12)
    assert sequence.units == k_treatment + k_control


def test_missing_reasons():
    rng = np.random.default_rng(3)
    some = _clusters(rng, 20)
    one = ClusterSummary.from_clusters([3], [1.5], shift=15.0)
    assert sequential_delta(ClusterSummary.empty(), some, labels=("v4", "holdout")).missing == "no interactions in v4"
    lonely = sequential_delta(some, one, labels=("v4", "holdout"))
    assert (lonely.missing, lonely.ci95_s, lonely.p) == ("only 1 interaction in holdout", None, None)
    assert lonely.delta_s is not None
    constant = ClusterSummary.from_clusters([1, 1], [0.0, 0.0], shift=10.0)
    flat = sequential_delta(constant, ClusterSummary.from_clusters([2, 1], [0.0, 0.0], shift=11.0))
    assert flat.missing == "zero variance in both arms" and flat.delta_s == pytest.approx(-1.0)
    assert confidence_sequence(1.0, 0.5, 0).missing == "no units"
    assert flat.to_dict()["ci95_s"] is None and flat.to_dict()["tuning"] == DEFAULT_N_STAR


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_star": 0}, "n_star"),
        ({"n_star": 2.5}, "n_star"),
        ({"confidence": 1.0}, "confidence"),
        ({"variance": -1.0}, "variance"),
        ({"delta_s": float("nan")}, "delta_s"),
        ({"units": -3}, "units"),
    ],
)
def test_bad_inputs_are_refused_with_the_field(kwargs, message):
    arguments = {"delta_s": 1.0, "variance": 1.0, "units": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        confidence_sequence(**arguments)


def _peeking(runs: int, days: int, per_day: tuple[int, int], seed: int) -> tuple[float, float]:
    """Share of A/A runs ever significant over daily looks: (fixed-horizon clustered Welch, sequential).

    Each day adds per_day interactions to each arm (1-8 selections each, an interaction effect of sd 2 s
    and skewed gamma noise of sd 3 s per selection, intra-interaction correlation 0.31); every look
    uses all interactions so far, as a dashboard read each day does. The arms' cluster-robust variances
    are `ClusterSummary.variance_of_mean` written out over numpy arrays (the same sums), so that 14,000
    looks take well under a second.
    """
    rng = np.random.default_rng(seed)
    means, variances = [], 0.0
    for k in per_day:
        sizes = rng.integers(1, 9, (runs, days, k)).astype(np.float64)
        sums = sizes * rng.normal(0, 2, sizes.shape) + rng.gamma(sizes, 3.0) - 3.0 * sizes
        moments = (sizes, sums, sizes * sizes, sums * sums, sizes * sums)
        n, y, n2, y2, ny = (np.cumsum(m.sum(axis=2), axis=1) for m in moments)
        clusters = k * np.arange(1, days + 1)
        ratio = y / n
        residual = y2 - 2 * ratio * ny + ratio * ratio * n2
        means.append(ratio)
        variances = variances + clusters / (clusters - 1) * residual / (n * n)
    deltas = means[0] - means[1]
    units = sum(per_day) * np.arange(1, days + 1)
    looks = [
        [confidence_sequence(deltas[run, day], variances[run, day], units[day]).p for day in range(days)]
        for run in range(runs)
    ]
    sequential = (np.asarray(looks) < 0.05).any(axis=1)
    # the fixed-horizon test read at each look (normal quantile: the Welch df is in the hundreds)
    fixed = (2 * stats.norm.sf(np.abs(deltas) / np.sqrt(variances)) < 0.05).any(axis=1)
    return float(fixed.mean()), float(sequential.mean())


@pytest.mark.slow
@pytest.mark.parametrize("per_day", [(40, 40), (100, 8)])
def test_aa_daily_looks_sequential_holds_its_level_and_fixed_horizon_does_not(per_day):
    """1,000 A/A experiments, 14 daily looks, per_day interactions per arm each day.

    Measured (seed 20261203), share of runs ever significant at alpha 0.05:
    40 / 40 a day: fixed-horizon p 0.233, always-valid p 0.002;
    100 / 8 a day (a small holdout): fixed-horizon p 0.296, always-valid p 0.006.
    The bound is the upper end of the central 95% binomial interval of a 5% rate (0.064). A run
    that is never significant is one whose sequence covers the true delta (0) at every look.
    """
    runs = 1000
    fixed, sequential = _peeking(runs, 14, per_day, seed=20261203)
    high = stats.binom.ppf(0.975, runs, 0.05) / runs
    assert sequential <= high, f"always-valid p rejected {sequential:.3f} of A/A runs (bound {high:.3f})"
    assert fixed > high, f"fixed-horizon p peeked daily should exceed {high:.3f}, got {fixed:.3f}"
    # the sequence covers the true delta at every look in at least 95% of runs
    assert 1 - sequential >= 0.95
