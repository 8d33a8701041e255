"""Pure statistics for A/B reports: sufficient statistics in, frozen result dataclasses out.

Nothing here does I/O: the database (or a polars scan) aggregates the sufficient statistics and
these functions do the maths on the few numbers that come back. See docs/statistics.md.
"""

from abkit.stats.accuracy import Proportion, TopKAccuracy, proportion, topk_accuracy
from abkit.stats.cluster import ClusterSummary
from abkit.stats.delta import DeltaResult, mean_delta
from abkit.stats.multiple import holm
from abkit.stats.power import PowerResult, days_to_detect, design_effect, mde
from abkit.stats.stratified import StratifiedSummary, stratified_summary
from abkit.stats.srm import DEFAULT_SRM_THRESHOLD, SrmResult, srm_test
from abkit.stats.summary import SampleSummary
from abkit.stats.trend import TrendMethod, TrendResult, mann_kendall
from abkit.stats.welch import WelchResult, clustered_welch, welch_from_moments, welch_test

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "ClusterSummary",
    "DeltaResult",
    "PowerResult",
    "Proportion",
    "SampleSummary",
    "SrmResult",
    "StratifiedSummary",
    "TopKAccuracy",
    "TrendMethod",
    "TrendResult",
    "WelchResult",
    "clustered_welch",
    "days_to_detect",
    "design_effect",
    "holm",
    "mann_kendall",
    "mde",
    "mean_delta",
    "proportion",
    "srm_test",
    "stratified_summary",
    "topk_accuracy",
    "welch_from_moments",
    "welch_test",
]
