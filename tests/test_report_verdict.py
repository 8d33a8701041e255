"""The verdict's rules (abkit/report/verdict.py), one test per decision, on hand-made figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from abkit.report.arms import ArmComparison, PhaseComparison
from abkit.report.verdict import DECISIONS, decide
from abkit.stats import DeltaResult, SampleSummary, SrmResult, WelchResult

OK_SRM = SrmResult(0.3, 1, 0.58, False, {"holdout": 10, "v4": 500}, {"holdout": 0.02, "v4": 0.98})
BAD_SRM = SrmResult(30.0, 1, 4e-8, True, {"holdout": 40, "v4": 500}, {"holdout": 0.02, "v4": 0.98})


def _comparison(low: float, high: float, p: float, mde_s: float = 0.2, srm: SrmResult = OK_SRM) -> ArmComparison:
    delta = DeltaResult((low + high) / 2, (low, high), -10.0, (-12.0, -8.0), df=50.0)
    phase = PhaseComparison(1, None, None, {"holdout": 0.02, "v4": 0.98}, 500, 10, 900, 20, delta, srm)
    sample = SampleSummary.from_values([1.0, 2.0, 3.0])
    return ArmComparison(
        treatment=sample,
        control=sample,
        interactions_treatment=500,
        interactions_control=10,
        delta=delta,
        clustered=WelchResult(-3.0, 50.0, p, (low + high) / 2, 0.5),
        selection_delta=delta,
        welch=WelchResult(-6.0, 900.0, p / 100, (low + high) / 2, 0.25),
        phases=(phase,),
        design_effect=4.0,
        mde_s=mde_s,
        mde_s_missing=None,
    )


def test_a_significant_saving_quotes_the_saving_and_its_interval_in_positive_seconds():
    verdict = decide(_comparison(-8.6, -7.3, 1e-55), "v4", "the holdout in standing", p=1e-55, share_of_case_time=0.042)
    assert verdict.decision == "saves time"
    assert verdict.reason == (
        "v4 saves 7.95 s per selection against the holdout in standing (95% CI 7.30 to 8.60 s, "
        "interaction-level p 1e-55, n = 500 / 10 interactions), 4.2% of case time; SRM ok."
    )


def test_a_significant_cost():
    assert decide(_comparison(0.2, 0.9, 0.001), "v5", "v4 in v5-challenger", p=0.001).decision == "costs time"


def test_sample_ratio_mismatch_overrides_everything():
    verdict = decide(_comparison(-8.6, -7.3, 1e-55, srm=BAD_SRM), "v4", "the holdout", p=1e-55)
    assert verdict.decision == "do not trust: sample ratio mismatch" and "phase 1 (p = 4e-08)" in verdict.reason


def test_nothing_found_by_a_test_that_could_see_the_effect_is_no_difference():
    verdict = decide(_comparison(-0.1, 0.1, 0.9, mde_s=0.2), "v5", "v4", p=0.9, min_effect_s=0.25)
    assert verdict.decision == "no detectable difference" and "could detect 0.20 s" in verdict.reason


def test_nothing_found_by_an_underpowered_test_is_keep_collecting():
    verdict = decide(_comparison(-0.82, 0.34, 0.41, mde_s=0.9), "v2", "v1 in v2-challenger", p=0.41)
    assert verdict.decision == "keep collecting" and "0.90 s or more" in verdict.reason


def test_holm_adjusted_p_decides_even_when_the_interval_excludes_zero():
    # comparisons pass their Holm-adjusted p: not significant after adjustment, whatever the raw CI
    assert decide(_comparison(-0.9, -0.1, 0.01, mde_s=0.9), "v5", "v4", p=0.2).decision == "keep collecting"


def test_no_interval_and_no_data_are_told_apart():
    no_interval = replace(
        _comparison(-1, 1, 0.5), delta=DeltaResult(-1.0, None, None, None, "only 1 interaction in v5")
    )
    verdict = decide(no_interval, "v5", "v4", p=None)
    assert verdict.decision == "keep collecting" and "only 1 interaction in v5" in verdict.reason
    nothing = replace(no_interval, phases=(), delta=DeltaResult(None, None, None, None, "no selections in holdout"))
    verdict = decide(nothing, "v5", "the holdout in v5-challenger", p=None)
    assert verdict.decision == "not tested" and "no selections in holdout" in verdict.reason


def test_every_decision_is_in_the_documented_vocabulary():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "statistics.md").read_text()
    assert all(f"`{decision}`" in docs for decision in DECISIONS if decision != "do not ship: guardrail")
