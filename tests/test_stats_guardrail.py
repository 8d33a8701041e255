"""Case handle time guardrail against scipy, and the rule that turns it into "do not ship"."""

import numpy as np
import pytest
from scipy import stats

from abkit.stats import (
    DeltaResult,
    SampleSummary,
    confidence_sequence,
    guardrail_check,
    handle_time_guardrail,
    stratified_guardrail,
)


def test_handle_time_guardrail_matches_scipy_welch():
    rng = np.random.default_rng(18)
    treatment, holdout = rng.gamma(3.0, 140.0, 900), rng.gamma(3.0, 130.0, 60)
    result = handle_time_guardrail(SampleSummary.from_values(treatment), SampleSummary.from_values(holdout))
    reference = stats.ttest_ind(treatment, holdout, equal_var=False)
    assert result.delta_s == pytest.approx(treatment.mean() - holdout.mean(), rel=1e-9)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.ci95_s == pytest.approx(tuple(reference.confidence_interval(0.95)), rel=1e-9)
    assert (result.mean_treatment_s, result.mean_control_s) == pytest.approx((treatment.mean(), holdout.mean()))
    assert (result.n_treatment, result.n_control, result.missing) == (900, 60, None)


def test_handle_time_guardrail_missing_reasons_name_cases():
    some = SampleSummary.from_values([300.0, 420.0, 515.0])
    empty = handle_time_guardrail(some, SampleSummary.empty(), labels=("v4", "holdout"))
    assert empty.missing == "no cases in holdout" and empty.delta_s is None and empty.to_dict()["p"] is None
    single = handle_time_guardrail(SampleSummary.from_values([400.0]), some, labels=("v4", "holdout"))
    assert single.missing == "n = 1 in v4" and single.delta_s == pytest.approx(400.0 - some.mean)


def _result(delta, low, high):
    return DeltaResult(delta, (low, high), None, None)


def test_guardrail_worsened_when_its_interval_lies_above_zero():
    faster = _result(-0.45, -0.6, -0.3)
    check = guardrail_check(faster, _result(12.3, 3.1, 21.5))
    assert check.worsened is True
    assert (
        check.reason
        == "case handle time rose +12.3 s per case (95% CI +3.1 to +21.5 s) although selections got 0.45 s faster"
    )


@pytest.mark.parametrize(("low", "high"), [(-2.0, 9.0), (-9.0, -2.0)])
def test_guardrail_not_worsened_when_its_interval_reaches_zero_or_below(low, high):
    check = guardrail_check(_result(-0.45, -0.6, -0.3), _result((low + high) / 2, low, high))
    assert check.worsened is False
    assert check.reason.startswith("case handle time did not rise significantly")


def test_guardrail_margin_and_unavailable():
    assert guardrail_check(_result(-1.0, -2.0, 0.0), _result(5.0, 1.0, 9.0), margin_s=2.0).worsened is False
    assert guardrail_check(_result(-1.0, -2.0, 0.0), _result(5.0, 1.0, 9.0), margin_s=0.5).worsened is True
    unavailable = guardrail_check(_result(-1.0, -2.0, 0.0), DeltaResult(None, None, None, None, missing="no cases"))
    assert (unavailable.worsened, unavailable.reason) == (None, "case handle time guardrail could not be computed")


def test_guardrail_accepts_a_sequential_interval():
    # a significant fixed-horizon rise (z = 2.5) that the always-valid sequence does not confirm yet
    sequence = confidence_sequence(5.0, 4.0, 2000)
    assert guardrail_check(_result(-1.0, -2.0, -0.5), sequence).worsened is False
    assert guardrail_check(_result(-1.0, -2.0, -0.5), _result(5.0, 5.0 - 1.96 * 2, 5.0 + 1.96 * 2)).worsened is True


def test_stratified_guardrail_weighs_the_phases_as_given():
    # two phases, worked in numpy: delta = sum w_p (mean_t,p - mean_c,p), Var = sum w_p^2 (v_t/n_t + v_c/n_c)
    rng = np.random.default_rng(3)
    phases = [(rng.normal(600, 50, 300), rng.normal(590, 50, 40)), (rng.normal(760, 70, 500), rng.normal(750, 70, 30))]
    weights = np.array([340.0, 530.0])
    share = weights / weights.sum()
    strata = [(SampleSummary.from_values(t), SampleSummary.from_values(c)) for t, c in phases]
    result = stratified_guardrail(strata, list(weights), labels=("v5", "v4"))
    delta = sum(w * (t.mean() - c.mean()) for w, (t, c) in zip(share, phases, strict=True))
    variance = sum(
        w * w * (t.var(ddof=1) / t.size + c.var(ddof=1) / c.size) for w, (t, c) in zip(share, phases, strict=True)
    )
    assert result.delta_s == pytest.approx(delta, rel=1e-9)
    assert result.se == pytest.approx(np.sqrt(variance), rel=1e-9)
    assert result.mean_treatment_s == pytest.approx(sum(w * t.mean() for w, (t, _) in zip(share, phases, strict=True)))
    assert (result.n_treatment, result.n_control) == (800, 70)


def test_stratified_guardrail_of_one_phase_is_the_plain_guardrail_and_skips_one_sided_phases():
    rng = np.random.default_rng(4)
    treatment, control = (
        SampleSummary.from_values(rng.normal(600, 50, 200)),
        SampleSummary.from_values(rng.normal(610, 50, 20)),
    )
    plain = handle_time_guardrail(treatment, control)
    # a second phase with no control cases cannot be compared: left out
    only_treatment = (SampleSummary.from_values([700.0, 710.0]), SampleSummary.empty())
    assert stratified_guardrail([(treatment, control), only_treatment], [220.0, 2.0]) == plain
    assert stratified_guardrail([only_treatment], [2.0], labels=("v5", "v4")).missing == "no cases in v4"
    crossed = [only_treatment, (SampleSummary.empty(), SampleSummary.from_values([1.0, 2.0]))]
    assert (
        stratified_guardrail(crossed, [2.0, 2.0], labels=("v5", "v4")).missing
        == "no phase with cases in both v5 and v4"
    )
    with pytest.raises(ValueError, match="2 strata but 1 weights"):
        stratified_guardrail(crossed, [1.0])
