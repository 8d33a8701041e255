"""The simulated world (pure frames, no database): determinism and the figures it is built to show."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from abkit.events import columns as c
from abkit.events.validate import validate_batch
from abkit.simulate.model import build_world_model
from abkit.simulate.settings import settings_for_scale
from abkit.simulate.timeline import build_timeline
from abkit.simulate.world import iter_blocks

SEED = 5


def _frames(settings, seed, cases_per_block=None):
    model = build_world_model(settings, seed)
    predictions, selections, cases = [], [], []
    for block in iter_blocks(model, seed, cases_per_block=cases_per_block):
        for part in block.parts:
            predictions.append(part.predictions)
            selections.append(part.selections)
        cases.append(block.cases)
    return pl.concat(predictions), pl.concat(selections), pl.concat(cases)


@pytest.fixture(scope="module")
def world():
    settings = settings_for_scale(40_000)
    predictions, selections, cases = _frames(settings, SEED, cases_per_block=5_000)
    return settings, predictions, selections, cases


def test_same_seed_same_events_other_seed_other_events(world):
    settings, predictions, selections, cases = world
    again = _frames(settings, SEED, cases_per_block=5_000)
    assert again[0].equals(predictions) and again[1].equals(selections) and again[2].equals(cases)
    other = _frames(settings, SEED + 1, cases_per_block=5_000)
    assert not other[1]["selection_time_s"].equals(selections["selection_time_s"])


def test_events_are_valid_and_ids_unique(world):
    _, predictions, selections, cases = world
    for kind, frame in (("prediction", predictions), ("selection", selections), ("case", cases)):
        checked = validate_batch(kind, frame)
        assert checked.rejected.height == 0, checked.rejected.head()
        assert frame[c.ID_COLUMN_BY_KIND[kind]].n_unique() == frame.height
    assert selections.height == pytest.approx(40_000, rel=0.05)
    assert set(selections[c.PREDICTION_ID]) == set(predictions[c.PREDICTION_ID])
    assert set(selections[c.CASE_ID]) == set(cases[c.CASE_ID])


def test_predictions_precede_selections_and_lists_are_well_formed(world):
    _, predictions, selections, _ = world
    joined = selections.join(predictions, on=c.PREDICTION_ID, suffix="_p")
    assert (joined[c.CREATED_AT] > joined[f"{c.CREATED_AT}_p"]).all()
    assert (joined[c.MESSAGE_ID] == joined[f"{c.MESSAGE_ID}_p"]).all()
    lists = predictions.select(c.TEMPLATE_ID_COLUMNS).to_numpy()
    assert all(len(set(row)) == 5 for row in lists[:2000])
    scores = predictions.select(c.SCORE_COLUMNS).to_numpy()
    assert (np.diff(scores, axis=1) <= 0).all() and (scores > 0).all() and (scores.sum(axis=1) < 1).all()


def test_timeline_four_versions_and_challenger_tests(world):
    settings, _, selections, _ = world
    assert sorted(selections[c.MODEL_VERSION].unique()) == ["v1", "v2", "v3", "v4"]
    periods = build_timeline(settings)
    arms = {p.experiment.name: p.experiment.arms for p in periods}
    assert arms["v2-challenger"] == (("holdout", 0.02), ("v1", 0.49), ("v2", 0.49))
    assert arms["v4-challenger"] == (("holdout", 0.02), ("v3", 0.49), ("v4", 0.49))
    challengers = [p for p in periods if p.experiment.name != "standing"]
    assert [p.end_day - p.start_day for p in challengers] == [14, 14, 14]
    observed = selections.group_by(c.EXPERIMENT, c.ARM, c.MODEL_VERSION).len()
    v2_test = observed.filter(pl.col(c.EXPERIMENT) == "v2-challenger")
    assert set(zip(v2_test[c.ARM], v2_test[c.MODEL_VERSION], strict=True)) == {
        ("holdout", "v1"),  # the holdout is scored by the incumbent
        ("v1", "v1"),
        ("v2", "v2"),
    }


def test_arms_come_from_the_assignment_hash(world):
    settings, _, selections, _ = world
    configs = {p.experiment.name: p.experiment for p in build_timeline(settings)}
    units = selections.unique(subset=[c.ADVOCATE_ID, c.CASE_ID]).head(3000)
    for experiment, advocate, case, arm in units.select(c.EXPERIMENT, c.ADVOCATE_ID, c.CASE_ID, c.ARM).iter_rows():
        expected = configs[experiment].assign(advocate, case)
        if experiment == "standing":
            assert arm == expected or (expected != "holdout" and arm != "holdout")
        else:
            assert arm == expected


def test_holdout_share_is_two_percent_of_interactions(world):
    _, _, selections, _ = world
    units = selections.group_by(c.ADVOCATE_ID, c.CASE_ID).agg(
        pl.col(c.ARM).n_unique().alias("arms"), pl.col(c.ARM).first()
    )
    assert (units["arms"] == 1).all(), "all selections of an interaction share its arm"
    share = (units[c.ARM] == "holdout").mean()
    standard_error = (0.02 * 0.98 / units.height) ** 0.5
    assert abs(share - 0.02) < 4 * standard_error
    per_case = selections.group_by(c.CASE_ID).agg(pl.col(c.ADVOCATE_ID).n_unique().alias("advocates"))
    assert 0.05 < (per_case["advocates"] > 1).mean() < 0.15, "about 10% of cases are transferred"


def test_selection_times_and_case_share(world):
    _, _, selections, cases = world
    holdout = selections.filter(pl.col(c.ARM) == "holdout")[c.SELECTION_TIME_S]
    treatment = selections.filter(pl.col(c.ARM) != "holdout")[c.SELECTION_TIME_S]
    assert holdout.mean() == pytest.approx(19.0, abs=1.5)  # DESIGN: about 19 s without suggestions
    assert treatment.mean() == pytest.approx(12.8, abs=0.8)  # DESIGN: about 13 s with them
    saving = holdout.mean() - treatment.mean()
    share = saving * selections.height / cases.height / cases[c.HANDLE_TIME_S].mean()
    assert 0.025 < share < 0.045  # DESIGN: 3.56% of case time


def test_accuracy_rises_by_version_as_calibrated(world):
    settings, predictions, selections, _ = world
    joined = selections.select(c.PREDICTION_ID, c.TEMPLATE_ID, c.MODEL_VERSION).join(
        predictions.select(c.PREDICTION_ID, *c.TEMPLATE_ID_COLUMNS), on=c.PREDICTION_ID
    )
    hits = joined.with_columns(
        top1=pl.col(c.TEMPLATE_ID) == pl.col(c.TEMPLATE_ID_COLUMNS[0]),
        top5=pl.any_horizontal([pl.col(c.TEMPLATE_ID) == pl.col(name) for name in c.TEMPLATE_ID_COLUMNS]),
    )
    by_version = hits.group_by(c.MODEL_VERSION).agg(pl.col("top1").mean(), pl.col("top5").mean()).sort(c.MODEL_VERSION)
    targets = [v.top5_accuracy for v in settings.versions]
    np.testing.assert_allclose(by_version["top5"].to_numpy(), targets, atol=0.03)
    assert (np.diff(by_version["top1"].to_numpy()) > 0).all()
    assert (by_version["top1"] / by_version["top5"]).to_numpy() == pytest.approx(0.6, abs=0.05)


def test_templates_only_chosen_while_live():
    settings = settings_for_scale(20_000, introduced_share=0.3, deprecated_share=0.3)
    model = build_world_model(settings, SEED)
    _, selections, _ = _frames(settings, SEED)
    day = ((selections[c.CREATED_AT] - settings.start).dt.total_seconds() // 86_400).clip(0, settings.days - 1)
    index = selections[c.TEMPLATE_ID].str.slice(1).cast(pl.Int64) - 1
    assert model.live[index.to_numpy(), day.to_numpy()].mean() > 0.99  # a selection may end just past midnight
    assert (model.introduced_day > 0).sum() == round(0.3 * settings.n_templates)


def test_per_template_savings_rise_with_accuracy():
    """Templates predicted better save more time: the holdout-vs-accuracy picture of DESIGN."""
    # a large holdout so that each template's holdout mean is precise at a small scale
    settings = replace(settings_for_scale(40_000), holdout_weight=0.5)
    predictions, selections, _ = _frames(settings, SEED)
    joined = selections.join(predictions.select(c.PREDICTION_ID, *c.TEMPLATE_ID_COLUMNS), on=c.PREDICTION_ID)
    joined = joined.with_columns(
        hit=pl.any_horizontal([pl.col(c.TEMPLATE_ID) == pl.col(name) for name in c.TEMPLATE_ID_COLUMNS]),
        holdout=pl.col(c.ARM) == "holdout",
    )
    per_template = (
        joined.group_by(c.TEMPLATE_ID)
        .agg(
            pl.len().alias("n"),
            pl.col("hit").filter(pl.col("holdout")).mean().alias("accuracy"),
            (
                pl.col(c.SELECTION_TIME_S).filter(pl.col("holdout")).mean()
                - pl.col(c.SELECTION_TIME_S).filter(~pl.col("holdout")).mean()
            ).alias("saving"),
        )
        .sort("n", descending=True)
        .head(40)
    )
    rho = spearmanr(per_template["accuracy"], per_template["saving"]).statistic
    assert rho > 0.3, rho
