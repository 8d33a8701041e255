"""Pure statistics for A/B reports: sufficient statistics in, frozen result dataclasses out.

Nothing here does I/O: the database (or DuckDB over exported files) aggregates the sufficient
statistics and these functions do the maths on the few numbers that come back. See docs/statistics.md.
"""

from abkit.stats.accuracy import Proportion, TopKAccuracy, proportion, topk_accuracy
from abkit.stats.cluster import ClusterSummary
from abkit.stats.cuped import (
    CupedResult,
    CupedSummary,
    covariate_correlation,
    cuped_delta,
    cuped_result,
    pooled_theta,
    stratified_cuped_delta,
)
from abkit.stats.delta import DeltaResult, mean_delta
from abkit.stats.guardrail import (
    GuardrailCheck,
    GuardrailResult,
    guardrail_check,
    handle_time_guardrail,
    stratified_guardrail,
)
from abkit.stats.multiple import holm
from abkit.stats.planning import ComparisonPlan, DaysNeeded, Detectable, interaction_variance, plan_comparison
from abkit.stats.power import PowerResult, days_to_detect, design_effect, mde
from abkit.stats.sequential import (
    DEFAULT_N_STAR,
    SequentialResult,
    boundary_multiplier,
    confidence_sequence,
    sequential_delta,
)
from abkit.stats.srm import DEFAULT_SRM_THRESHOLD, SrmResult, srm_test
from abkit.stats.stratified import StratifiedSummary, stratified_summary
from abkit.stats.summary import SampleSummary
from abkit.stats.trend import TrendMethod, TrendResult, mann_kendall
from abkit.stats.welch import WelchResult, clustered_welch, welch_from_moments, welch_test

__all__ = [
    "ClusterSummary",
    "ComparisonPlan",
    "CupedResult",
    "CupedSummary",
    "DEFAULT_N_STAR",
    "DEFAULT_SRM_THRESHOLD",
    "DaysNeeded",
    "DeltaResult",
    "Detectable",
    "GuardrailCheck",
    "GuardrailResult",
    "PowerResult",
    "Proportion",
    "SampleSummary",
    "SequentialResult",
    "SrmResult",
    "StratifiedSummary",
    "TopKAccuracy",
    "TrendMethod",
    "TrendResult",
    "WelchResult",
    "boundary_multiplier",
    "clustered_welch",
    "confidence_sequence",
    "covariate_correlation",
    "cuped_delta",
    "cuped_result",
    "days_to_detect",
    "design_effect",
    "guardrail_check",
    "handle_time_guardrail",
    "holm",
    "interaction_variance",
    "mann_kendall",
    "mde",
    "plan_comparison",
    "pooled_theta",
    "mean_delta",
    "proportion",
    "sequential_delta",
    "srm_test",
    "stratified_cuped_delta",
    "stratified_guardrail",
    "stratified_summary",
    "topk_accuracy",
    "welch_from_moments",
    "welch_test",
]
