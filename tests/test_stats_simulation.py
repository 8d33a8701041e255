"""Simulation checks: A/A false-positive rates with clustered selections, and CI coverage.

Every simulation uses fixed seeds, so a run is reproducible; the bounds are the central 99.9%
interval of the binomial count a correct procedure would give, so a correct procedure fails
about once in a thousand seeds-sets, and a wrong one (e.g. selection-level p on clustered data) fails always.
"""

import numpy as np
import pytest
from scipy import stats

from abkit.stats import ClusterSummary, SampleSummary, clustered_welch, mean_delta, welch_test

BASE_S = 15.0


def _binomial_interval(runs: int, rate: float) -> tuple[float, float]:
    """Central 99.9% interval of Binomial(runs, rate), as rates."""
    low, high = stats.binom.ppf([0.0005, 0.9995], runs, rate)
    return low / runs, high / runs


def _clustered_arm(rng: np.random.Generator, interactions: int, effect_s: float = 0.0):
    """One arm: 1..20 selections per (advocate, case) interaction, an interaction effect (sd 4 s) and
    skewed selection noise (exponential, sd 3 s), so the intra-interaction correlation is 16/25."""
    sizes = rng.integers(1, 21, interactions)
    ids = np.repeat(np.arange(interactions), sizes)
    values = BASE_S + effect_s + rng.normal(0, 4, interactions)[ids] + rng.exponential(3, ids.size)
    sums = np.bincount(ids, weights=values - BASE_S)
    return SampleSummary.from_values(values), ClusterSummary.from_clusters(sizes, sums, shift=BASE_S)


def _aa_rates(runs: int, interactions: tuple[int, int], seed: int) -> tuple[float, float]:
    """Share of A/A runs with p < 0.05: (clustered, selection-level)."""
    clustered = selection = 0
    for run in range(runs):
        rng = np.random.default_rng([seed, run])
        treatment, control = _clustered_arm(rng, interactions[0]), _clustered_arm(rng, interactions[1])
        clustered += clustered_welch(treatment[1], control[1]).p < 0.05
        selection += welch_test(treatment[0], control[0]).p < 0.05
    return clustered / runs, selection / runs


@pytest.mark.slow
@pytest.mark.parametrize(("runs", "interactions"), [(1500, (100, 100)), (600, (300, 30))])
def test_aa_clustered_p_holds_its_level_and_selection_p_does_not(runs, interactions):
    clustered, selection = _aa_rates(runs, interactions, seed=20261123)
    low, high = _binomial_interval(runs, 0.05)
    assert low <= clustered <= high, f"clustered false-positive rate {clustered:.3f} outside [{low:.3f}, {high:.3f}]"
    # selections in one interaction share its effect: treating them as independent is anti-conservative
    assert selection > high, f"selection-level rate {selection:.3f} should exceed {high:.3f}"
    assert selection > 0.3


@pytest.mark.slow
def test_delta_ci_coverage_selection_level_skewed_arms():
    # Gamma selection times (means 13.2 s and 19.2 s), a large treatment and a small holdout.
    runs, cover_s, cover_pct = 1000, 0, 0
    true_delta = 4 * 3.3 - 4 * 4.8
    true_pct = 100 * (4 * 3.3 / (4 * 4.8) - 1)
    for run in range(runs):
        rng = np.random.default_rng([7, run])
        treatment = SampleSummary.from_values(rng.gamma(4.0, 3.3, 300))
        holdout = SampleSummary.from_values(rng.gamma(4.0, 4.8, 40))
        result = mean_delta(treatment, holdout)
        cover_s += result.ci95_s[0] <= true_delta <= result.ci95_s[1]
        cover_pct += result.ci95_pct[0] <= true_pct <= result.ci95_pct[1]
    low, high = _binomial_interval(runs, 0.95)
    assert low <= cover_s / runs <= high
    assert low <= cover_pct / runs <= high


@pytest.mark.slow
def test_delta_ci_coverage_clustered():
    runs, clustered, selection = 600, 0, 0
    for run in range(runs):
        rng = np.random.default_rng([8, run])
        treatment, holdout = _clustered_arm(rng, 300, effect_s=-2.0), _clustered_arm(rng, 30)
        by_interaction, by_selection = mean_delta(treatment[1], holdout[1]), mean_delta(treatment[0], holdout[0])
        clustered += by_interaction.ci95_s[0] <= -2.0 <= by_interaction.ci95_s[1]
        selection += by_selection.ci95_s[0] <= -2.0 <= by_selection.ci95_s[1]
    low, high = _binomial_interval(runs, 0.95)
    assert low <= clustered / runs <= high
    assert selection / runs < low  # the selection-level interval is too narrow under clustering
