from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from abkit.training.scaling import POOLED, ScalingPoint, analyse_scaling, run_names, scaling_table
from abkit.training.scaling_chart import run_colours, scaling_figure, write_scaling_html
from abkit.training.scaling_fit import linear_fit

# Issue 19's run: four adapted checkpoints whose classification loss barely moves while the
# LM loss falls 0.757 -> 0.501 (intermediate LM losses chosen for an R² of 0.24, as reported),
# and the random init (step 0) fine-tuned directly far away at LM loss 6.951.
ISSUE_LM = [0.757, 0.55, 0.52, 0.501]
ISSUE_CLS = [2.082, 1.958, 2.044, 2.046]
START = (6.951, 2.491)


def issue_run(run: str = "adapt", parameters: int = 1_000) -> list[ScalingPoint]:
    start = ScalingPoint(run, 0, parameters, 0, START[0], START[1], 0.39, 0.61)
    adapted = [
        ScalingPoint(run, 200 * (i + 1), parameters, 200_000 * (i + 1), lm, cls, 0.57, 0.77)
        for i, (lm, cls) in enumerate(zip(ISSUE_LM, ISSUE_CLS, strict=True))
    ]
    return [start, *adapted]


def test_linear_fit_matches_statsmodels_ols_and_scipy_linregress():
    fit = linear_fit(ISSUE_LM, ISSUE_CLS, x_name="lm_loss", group="adapt")
    # Golden values from statsmodels 0.15 OLS (sm.OLS(y, sm.add_constant(x)).fit()):
    # params [1.90462441, 0.21971751], rsquared 0.24415992, conf_int(0.05) slope [-0.95643524, 1.39587025].
    assert fit.intercept == pytest.approx(1.90462441, rel=1e-7)
    assert fit.slope == pytest.approx(0.21971751, rel=1e-7)
    assert fit.r2 == pytest.approx(0.24415992, rel=1e-7)
    assert (fit.slope_ci_low, fit.slope_ci_high) == pytest.approx((-0.95643524, 1.39587025), rel=1e-7)
    assert fit.slope_stderr == pytest.approx(0.27335526, rel=1e-7) and fit.p_value == pytest.approx(0.50587459)
    reference = stats.linregress(ISSUE_LM, ISSUE_CLS)
    assert fit.slope == pytest.approx(reference.slope) and fit.r2 == pytest.approx(reference.rvalue**2)
    ols = sm.OLS(ISSUE_CLS, sm.add_constant(ISSUE_LM)).fit()
    np.testing.assert_allclose([fit.slope_ci_low, fit.slope_ci_high], ols.conf_int(0.05)[1], rtol=1e-9)
    assert fit.n == 4 and not fit.linear
    assert "no linear relation shown" in fit.verdict and "includes 0" in fit.verdict and "only 4 points" in fit.verdict


def test_step_0_is_a_leverage_point_and_is_left_out_of_the_fits_by_default():
    points = issue_run()
    honest = analyse_scaling(points)
    fit = honest.fit("lm_loss", "adapt")
    assert fit is not None and fit.n == 4 and fit.r2 == pytest.approx(0.24415992, rel=1e-7)
    # With step 0 the same run reads as a near-perfect line: R² 0.959 (statsmodels), slope CI [0.045, 0.100].
    leveraged = analyse_scaling(points, include_start=True).fit("lm_loss", "adapt")
    assert leveraged is not None and leveraged.n == 5
    assert leveraged.r2 == pytest.approx(0.95919724, rel=1e-7) and leveraged.linear
    assert (leveraged.slope_ci_low, leveraged.slope_ci_high) == pytest.approx((0.04482712, 0.09953391), rel=1e-6)
    # Step 0 is reported apart, as the effect of adaptation.
    (effect,) = honest.effects
    assert (effect.start_cls_loss, effect.adapted_cls_loss, effect.adapted_step) == (2.491, 2.046, 800)
    assert effect.delta == pytest.approx(-0.445)
    table = scaling_table(honest)
    assert "(start, not adapted)" in table and "adapted checkpoints only" in table and "2.491 -> 2.046" in table


def test_each_run_is_fitted_on_its_own_and_pooled_apart():
    # Two sizes, each exactly linear in LM loss with its own slope and intercept.
    small = [
        ScalingPoint("small", s, 100, 1_000 * s, lm, 1.0 + 0.5 * lm, 0.5, 0.7)
        for s, lm in [(1, 3), (2, 2.5), (3, 2.2), (4, 2)]
    ]
    large = [
        ScalingPoint("large", s, 1_000, 1_000 * s, lm, 0.2 + 0.4 * lm, 0.6, 0.8)
        for s, lm in [(1, 2.4), (2, 2), (3, 1.7), (4, 1.5)]
    ]
    analysis = analyse_scaling([*small, *large])
    for run, slope, intercept in [("small", 0.5, 1.0), ("large", 0.4, 0.2)]:
        fit = analysis.fit("lm_loss", run)
        assert fit is not None and fit.n == 4
        assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((slope, intercept, 1.0))
    pooled = analysis.fit("lm_loss", POOLED)
    assert pooled is not None and pooled.n == 8 and pooled.r2 < 0.99  # two lines are not one
    # Per run, log10 FLOPs is log10 tokens shifted by log10(6 N): the same slope; pooled, not.
    for run in ("small", "large"):
        tokens, flops = analysis.fit("log10_tokens", run), analysis.fit("log10_flops", run)
        assert tokens is not None and flops is not None and flops.slope == pytest.approx(tokens.slope)
    assert small[0].flops == 6 * 100 * 1_000
    names = [f.group for f in analysis.fits]
    assert names == ["small"] * 3 + ["large"] * 3 + [POOLED] * 3


def test_too_few_adapted_checkpoints_give_a_note_not_a_line():
    analysis = analyse_scaling(issue_run()[:3])  # step 0 and two adapted checkpoints
    assert analysis.fits == ()
    assert len(analysis.notes) == 3 and "at least 3 points, got 2" in analysis.notes[0]
    assert "R² is 1 by construction" in analysis.notes[0]
    with pytest.raises(ValueError, match="lm_loss: all x values are equal"):
        linear_fit([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], x_name="lm_loss")
    with pytest.raises(ValueError, match="differ in length"):
        linear_fit([1.0, 2.0, 3.0], [1.0], x_name="x")


def test_a_good_line_is_called_linear_and_a_flat_cloud_is_not():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    good = linear_fit(x, [2.1, 3.9, 6.2, 7.8, 10.1, 11.9])
    assert good.linear and good.verdict.startswith("linear: R² 0.99") and "points" not in good.verdict
    weak = linear_fit(x, [1.0, 2.0, 1.3, 2.6, 2.2, 2.9])
    assert weak.slope_ci_low > 0 and weak.r2 < 0.9 and weak.verdict.startswith("poor fit")


def test_every_trace_of_a_run_has_the_run_colour_in_every_panel(tmp_path):
    points = [*issue_run("run-a", 1_000), *issue_run("run-b", 4_000), *issue_run("run-c", 9_000)]
    analysis = analyse_scaling(points)
    colours = run_colours(analysis.runs)
    assert len(set(colours.values())) == 3
    figure = scaling_figure(analysis)
    seen = {run: set() for run in analysis.runs}
    for trace in figure.data:
        if trace.legendgroup in colours:
            colour = trace.marker.color if trace.mode == "markers" else trace.line.color
            assert colour == colours[trace.legendgroup], trace.name
            seen[trace.legendgroup].add(trace.xaxis)
    assert all(axes == {"x", "x2", "x3"} for axes in seen.values())  # each run drawn in all three panels
    # Step 0 appears once per run, in the LM-loss panel, marked as not in the fit.
    starts = [t for t in figure.data if "step 0" in t.name]
    assert len(starts) == 3 and all(t.xaxis == "x" and "not in fit" in t.name for t in starts)
    # The LM-loss axis spans the adapted checkpoints (the fitted ones); step 0 is named off it.
    adapted_lm = [p.lm_loss for p in points if p.adapted]
    low, high = figure.layout.xaxis.range
    assert low < min(adapted_lm) and max(adapted_lm) < high < min(p.lm_loss for p in points if not p.adapted)
    assert all("off the axis" in t.name for t in starts)
    assert scaling_figure(analyse_scaling(points, include_start=True)).layout.xaxis.range is None
    html = write_scaling_html(tmp_path / "chart" / "scaling.html", analysis).read_text()
    assert "plotly" in html.lower() and "run-a: least-squares fit" in html and "pooled: least-squares fit" in html
    document = json.dumps(analysis.to_dict())
    assert '"verdict"' in document and '"adaptation_effects"' in document and math.isfinite(points[0].cls_loss)


def test_runs_with_the_same_directory_name_are_told_apart():
    assert run_names(["runs/410m/adapt", "runs/1.4b/adapt"]) == ["410m/adapt", "1.4b/adapt"]
    assert run_names(["a/x", "b/y"]) == ["x", "y"]
    with pytest.raises(ValueError, match="cannot be told apart"):
        run_names(["a/x", "a/x"])


def test_a_run_whose_classifiers_never_beat_the_majority_baseline_is_flagged_whatever_its_r2():
    # A 32-wide model fine-tuned for one epoch on 1,000 cases (an earlier scaling demo): classification
    # loss 3.081 -> 3.076, exactly linear in LM loss (R² 0.98), while the majority baseline's is 3.075.
    lm = [2.745, 1.697, 1.442, 1.286, 1.219, 1.206]
    flat = [
        ScalingPoint("xs", 60 * (i + 1), 10, 1_000 * (i + 1), x, 3.0725 + 0.003 * x, 0.23, 0.52, 3.0755)
        for i, x in enumerate(lm)
    ]
    learned = [
        ScalingPoint("s", 60 * (i + 1), 20, 1_000 * (i + 1), x, 2.66 + 0.18 * x, 0.29, 0.57, 3.0755)
        for i, x in enumerate(lm)
    ]
    analysis = analyse_scaling([*flat, *learned])
    fit = analysis.fit("lm_loss", "xs")
    assert fit is not None and fit.linear  # a line it is ...
    assert analysis.not_learned == ("xs",)  # ... of a classifier that has not learned
    (note,) = [n for n in analysis.notes if n.startswith("xs:")]
    assert "beats the majority baseline (best loss 3.076 vs 3.075)" in note
    assert "majority" in scaling_table(analysis) and "3.076" in scaling_table(analysis)
    assert analysis.to_dict()["not_learned"] == ["xs"]


@pytest.mark.slow
def test_several_finetunes_per_checkpoint_give_the_mean_and_spread_of_their_seeds(tmp_path):
    from abkit.simulate.transcripts import generate_transcripts
    from abkit.training.adapt import list_checkpoints
    from abkit.training.corpus import parse_cases, split_cases
    from abkit.training.pipeline import load_base, run_adaptation, run_finetune
    from abkit.training.scaling import run_scaling
    from tests.training_helpers import TINY, with_settings

    cases = parse_cases(generate_transcripts(0, 40, n_templates=8))
    config = with_settings(TINY, adapt={"max_steps": 4, "checkpoint_every": 4})
    model, tokenizer, _ = load_base(config, split_cases(cases, seed=0).train, seed=0)
    run_adaptation(model, tokenizer, cases, config, tmp_path / "run", progress=False)
    points = run_scaling([tmp_path / "run"], cases, config, finetunes=2, progress=False)
    assert [p.step for p in points] == [0, 4] and all(p.finetunes == 2 for p in points)
    # The adapted checkpoint's point against its two classifiers fine-tuned one by one (seeds 0 and 1).
    checkpoint = list_checkpoints(tmp_path / "run")[-1]
    losses = [
        run_finetune(
            checkpoint.path,
            cases,
            with_settings(config, finetune={"seed": seed}),
            None,
            with_encoder=False,
            progress=False,
        ).metrics.loss
        for seed in (0, 1)
    ]
    assert losses[0] != losses[1]  # the seeds give different classifiers
    assert points[-1].cls_loss == pytest.approx((losses[0] + losses[1]) / 2, rel=1e-6)
    assert points[-1].cls_loss_sd == pytest.approx(abs(losses[0] - losses[1]) / math.sqrt(2), rel=1e-6)
    analysis = analyse_scaling(points)
    assert "± sd" in scaling_table(analysis)
    (adapted_trace, *_) = [t for t in scaling_figure(analysis).data if t.name == "run" and t.mode == "markers"]
    assert list(adapted_trace.error_y.array) == pytest.approx([points[-1].cls_loss_sd])  # ± one sd, drawn
    with pytest.raises(ValueError, match="finetunes"):
        run_scaling([tmp_path / "run"], cases, config, finetunes=0)
