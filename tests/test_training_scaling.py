from __future__ import annotations

import math

import numpy as np
import pytest

from abkit.training.scaling import ScalingPoint, linear_fit, scaling_fits, scaling_table
from abkit.training.scaling_chart import write_scaling_html


def test_linear_fit_matches_numpy_polyfit_and_r2_by_definition():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [2.1, 3.9, 6.2, 7.8, 10.1]
    fit = linear_fit(x, y, x_name="x")
    slope, intercept = np.polyfit(x, y, 1)
    assert fit.slope == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    predicted = intercept + slope * np.array(x)
    r2 = 1 - np.sum((np.array(y) - predicted) ** 2) / np.sum((np.array(y) - np.mean(y)) ** 2)
    assert fit.r2 == pytest.approx(r2) and fit.n == 5


def test_linear_fit_refuses_what_cannot_be_fitted():
    with pytest.raises(ValueError, match="at least 2 points"):
        linear_fit([1.0], [1.0], x_name="lm_loss")
    with pytest.raises(ValueError, match="lm_loss: all x values are equal"):
        linear_fit([1.0, 1.0], [1.0, 2.0], x_name="lm_loss")
    with pytest.raises(ValueError, match="differ in length"):
        linear_fit([1.0, 2.0], [1.0], x_name="x")


def points() -> list[ScalingPoint]:
    # Classification loss falls linearly with LM loss: cls = 0.5 + 0.4 * lm.
    rows = [(0, 0, 7.0), (10, 1_000, 4.0), (20, 2_000, 3.0), (40, 4_000, 2.5)]
    return [ScalingPoint("tiny", step, 1_000, tokens, lm, 0.5 + 0.4 * lm, 0.1, 0.3) for step, tokens, lm in rows]


def test_fits_relate_classification_loss_to_lm_loss_tokens_and_flops(tmp_path):
    fits = {fit.x_name: fit for fit in scaling_fits(points())}
    assert fits["lm_loss"].slope == pytest.approx(0.4) and fits["lm_loss"].r2 == pytest.approx(1.0)
    # The zero-token starting checkpoint has no logarithm: three points enter the log fits.
    assert fits["log10_tokens"].n == 3 and fits["log10_flops"].n == 3
    # FLOPs = 6 * N * D, so log10 FLOPs is log10 tokens shifted by log10(6 * N): same slope.
    assert fits["log10_flops"].slope == pytest.approx(fits["log10_tokens"].slope)
    assert points()[1].flops == 6 * 1_000 * 1_000
    table = scaling_table(points(), list(fits.values()))
    assert "log10_flops" in table and "R²" in table
    html = write_scaling_html(tmp_path / "chart" / "scaling.html", points(), list(fits.values())).read_text()
    assert "plotly" in html.lower() and "least-squares fit" in html
    assert f"R² = {fits['lm_loss'].r2:.3f}" in html


def test_a_single_checkpoint_gives_no_fit():
    assert scaling_fits(points()[:1]) == []
    assert math.isfinite(points()[0].cls_loss)
