from __future__ import annotations

import math

import pytest
import torch

from abkit.training.metrics import ClassificationMetrics, MetricAccumulator, majority_baseline, metrics_table


def test_top_k_accuracy_and_loss_by_hand():
    logits = torch.tensor(
        [
            [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],  # label 0: top-1
            [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],  # label 2: top-3
            [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],  # label 4: top-5
            [5.0, 4.0, 3.0, 2.0, 1.0, 0.0],  # label 5: none
        ]
    )
    labels = torch.tensor([0, 2, 4, 5])
    accumulator = MetricAccumulator()
    accumulator.add(logits[:2], labels[:2])
    accumulator.add(logits[2:], labels[2:])
    result = accumulator.result()
    log_z = math.log(sum(math.exp(v) for v in (5, 4, 3, 2, 1, 0)))
    assert result.n == 4
    assert result.loss == pytest.approx(log_z - (5 + 3 + 1 + 0) / 4)
    assert (result.top1, result.top3, result.top5) == (0.25, 0.5, 0.75)


def test_fewer_classes_than_five_still_counts_top_k():
    accumulator = MetricAccumulator()
    accumulator.add(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))
    assert accumulator.result().top5 == 1.0
    with pytest.raises(ValueError, match="no examples"):
        MetricAccumulator().result()


def test_majority_baseline_predicts_the_most_frequent_training_labels():
    train = [3, 3, 3, 1, 1, 2, 0]
    test = [3, 1, 2, 0, 4]
    result = majority_baseline(train, test, num_labels=5)
    # Ranking 3, 1, then the tie 0/2 broken by index: 0.
    assert (result.top1, result.top3, result.top5) == (0.2, 0.6, 0.8)
    # Laplace-smoothed train frequencies: (count + 1) / (7 + 5).
    expected = -sum(math.log(p) for p in (4 / 12, 3 / 12, 2 / 12, 2 / 12, 1 / 12)) / 5
    assert result.loss == pytest.approx(expected)
    with pytest.raises(ValueError, match="no test labels"):
        majority_baseline(train, [], 5)


def test_metrics_table_lists_every_model():
    row = ClassificationMetrics(n=10, loss=1.5, top1=0.1, top3=0.2, top5=0.3)
    table = metrics_table([("classifier", row), ("majority baseline", row)])
    assert "majority baseline" in table and "30.0%" in table
    assert row.to_dict("m_")["m_top5"] == 0.3
