"""Every result's to_dict() is strict JSON: no NaN or infinity, tuples as lists, numpy as Python."""

import json

import numpy as np
import pytest

from abkit.stats import (
    ClusterSummary,
    SampleSummary,
    clustered_welch,
    days_to_detect,
    mann_kendall,
    mean_delta,
    proportion,
    srm_test,
    topk_accuracy,
    welch_test,
)
from abkit.stats._result import json_safe

DEGENERATE_RESULTS = [
    welch_test(SampleSummary.empty(), SampleSummary.from_values([1.0])),
    welch_test(SampleSummary.from_values([2.0, 2.0]), SampleSummary.from_values([3.0, 3.0])),
    clustered_welch(ClusterSummary.empty(), ClusterSummary.empty()),
    mean_delta(SampleSummary.from_values([1.0]), SampleSummary.from_values([0.0])),
    srm_test({}, {"holdout": 0.02, "v1": 0.98}),
    proportion(0, 0),
    topk_accuracy(0, 0, 0, 0),
    mann_kendall([1.0, 1.0, 1.0]),
    mann_kendall([1.0, 2.0, 3.0], method="hamed_rao"),
    days_to_detect(0.0, 1.0, 10.0),
]


@pytest.mark.parametrize("result", DEGENERATE_RESULTS, ids=lambda r: type(r).__name__)
def test_degenerate_results_serialise_as_strict_json_with_a_reason(result):
    payload = result.to_dict()
    json.dumps(payload, allow_nan=False)
    reasons = [value for key, value in payload.items() if key.endswith("missing") and value]
    assert reasons, f"{type(result).__name__} has None figures but no reason"


def test_json_safe_converts_values():
    converted = json_safe({"a": float("nan"), "b": (1, np.float64(2.5)), "c": np.int64(3), "d": [float("-inf")]})
    assert converted == {"a": None, "b": [1, 2.5], "c": 3, "d": [None]}
    assert json_safe(np.bool_(True)) is True
    with pytest.raises(TypeError, match="cannot convert object"):
        json_safe(object())
