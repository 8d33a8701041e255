"""Wilson intervals against statsmodels, and top-k accuracy."""

import pytest
from statsmodels.stats.proportion import proportion_confint

from abkit.stats import proportion, topk_accuracy


@pytest.mark.parametrize(("hits", "n"), [(9, 20), (0, 20), (20, 20), (1, 1), (4540, 10_000), (3, 7)])
def test_wilson_matches_statsmodels(hits, n):
    result = proportion(hits, n)
    low, high = proportion_confint(hits, n, alpha=0.05, method="wilson")
    assert result.estimate == pytest.approx(hits / n, rel=1e-12)
    assert result.ci95[0] == pytest.approx(low, rel=1e-9, abs=1e-15)
    assert result.ci95[1] == pytest.approx(high, rel=1e-9, abs=1e-15)
    assert 0.0 <= result.ci95[0] <= result.estimate <= result.ci95[1] <= 1.0


def test_worked_example():
    # Wilson by hand for 9 / 20, z = 1.959964: centre 0.457982, half 0.199858
    result = proportion(9, 20)
    assert result.ci95 == pytest.approx((0.258198, 0.657915), abs=1e-6)


def test_empty_gives_a_reason():
    result = proportion(0, 0)
    assert (result.estimate, result.ci95, result.n, result.missing) == (None, None, 0, "n = 0")


@pytest.mark.parametrize(
    ("hits", "n", "message"), [(5, 4, "hits"), (-1, 4, "hits"), (1, -4, "n must"), (1.5, 4, "hits")]
)
def test_bad_counts_are_refused(hits, n, message):
    with pytest.raises(ValueError, match=message):
        proportion(hits, n)


def test_topk_accuracy_and_report_shape():
    result = topk_accuracy(454, 670, 750, 1000)
    assert (result.top1.estimate, result.top3.estimate, result.top5.estimate) == (0.454, 0.67, 0.75)
    payload = result.to_dict()
    assert payload["n"] == 1000 and payload["top5"] == 0.75 and payload["missing"] is None
    low, high = proportion_confint(670, 1000, method="wilson")
    assert payload["top3_ci95"] == pytest.approx([low, high], rel=1e-9)


def test_topk_accuracy_without_predictions():
    payload = topk_accuracy(0, 0, 0, 0).to_dict()
    assert payload == {
        "n": 0,
        "top1": None,
        "top1_ci95": None,
        "top3": None,
        "top3_ci95": None,
        "top5": None,
        "top5_ci95": None,
        "missing": "n = 0",
    }


def test_topk_hits_must_nest():
    with pytest.raises(ValueError, match="hits_top1 <= hits_top3"):
        topk_accuracy(5, 4, 6, 10)
    with pytest.raises(ValueError, match="<= n"):
        topk_accuracy(5, 6, 11, 10)
