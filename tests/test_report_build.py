"""build_report against an independent computation on the raw events (pandas + scipy + pymannkendall).

Golden values come from scipy.stats.ttest_ind(equal_var=False), scipy.stats.chisquare,
numpy.percentile and pymannkendall on the raw arrays of tests/report_events.py, compared to
a relative 1e-9.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
import pymannkendall
import pytest
from scipy import stats

from abkit.events import EventStore
from abkit.report.build import build_report
from tests.report_events import EXPERIMENTS, event_frames, write_events

NOW = datetime(2026, 2, 1)
REL = 1e-9


def close(value, expected):
    return value == pytest.approx(expected, rel=REL, abs=1e-12)


@pytest.fixture(scope="module")
def frames():
    return event_frames()


@pytest.fixture(scope="module")
def raw(frames):
    return {kind: frame.to_pandas() for kind, frame in frames.items()}


@pytest.fixture(scope="module")
def report(frames, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'events.sqlite'}"
    write_events(url, frames)
    return build_report(url, now=NOW).to_dict()


def _version(report, name, experiment="standing"):
    return next(v for v in report["versions"] if v["model_version"] == name and v["experiment"] == experiment)


def _arms(s, version, experiment="standing"):
    """(treatment, holdout) selections of a version within one experiment."""
    inside = s[(s.experiment == experiment) & (s.model_version == version)]
    return inside[inside.arm != "holdout"], inside[inside.arm == "holdout"]


def _cluster_variance(frame: pd.DataFrame) -> tuple[float, int]:
    """Delta-method variance of the mean over interactions, k / (k-1) * sum (y_i - r n_i)^2 / N^2."""
    grouped = frame.groupby(["experiment", "advocate_id", "case_id"])["selection_time_s"].agg(["count", "sum"])
    r = grouped["sum"].sum() / grouped["count"].sum()
    k = len(grouped)
    residual = ((grouped["sum"] - r * grouped["count"]) ** 2).sum()
    return k / (k - 1) * residual / grouped["count"].sum() ** 2, k


def test_version_figures_match_scipy(report, raw):
    treated, held = _arms(raw["selection"], "v1")
    treatment, holdout = treated.selection_time_s, held.selection_time_s
    v1 = _version(report, "v1")
    assert v1["treatment"]["n"] == len(treatment) and v1["holdout"]["n"] == len(holdout)
    assert close(v1["treatment"]["mean_s"], treatment.mean())
    assert close(v1["holdout"]["sd_s"], holdout.std(ddof=1))
    welch = stats.ttest_ind(treatment, holdout, equal_var=False)
    assert close(v1["welch"]["t"], welch.statistic)
    assert close(v1["welch"]["df"], welch.df)
    assert close(v1["welch"]["p"], welch.pvalue)
    assert close(v1["delta_s"], treatment.mean() - holdout.mean())
    assert close(v1["saving_s"], holdout.mean() - treatment.mean())
    ci = welch.confidence_interval(0.95)
    assert close(v1["delta_ci95_s"][0], ci.low) and close(v1["delta_ci95_s"][1], ci.high)
    assert close(v1["delta_pct"], 100 * (treatment.mean() - holdout.mean()) / holdout.mean())


@pytest.mark.parametrize(("version", "experiment"), [("v1", "standing"), ("v1", "v2-challenger")])
def test_clustered_welch_and_ci_use_interactions(report, raw, version, experiment):
    treated, held = _arms(raw["selection"], version, experiment)
    (v1, k1), (v0, k0) = _cluster_variance(treated), _cluster_variance(held)
    m1, m0 = treated.selection_time_s.mean(), held.selection_time_s.mean()
    t = (m1 - m0) / math.sqrt(v1 + v0)
    df = (v1 + v0) ** 2 / (v1**2 / (k1 - 1) + v0**2 / (k0 - 1))  # Welch-Satterthwaite on k - 1
    clustered = _version(report, version, experiment)["clustered"]
    assert clustered["interactions_treatment"] == k1 and clustered["interactions_control"] == k0
    assert close(clustered["t"], t) and close(clustered["df"], df)
    assert close(clustered["p"], 2 * stats.t.sf(abs(t), df))
    q = stats.t.isf(0.025, df)
    assert close(clustered["delta_ci95_s"][0], m1 - m0 - q * math.sqrt(v1 + v0))
    assert close(clustered["delta_ci95_s"][1], m1 - m0 + q * math.sqrt(v1 + v0))
    # percent CI: delta method on R = m1 / m0, Var(R) = v1 / m0^2 + m1^2 v0 / m0^4
    half = 100 * q * math.sqrt(v1 / m0**2 + m1**2 * v0 / m0**4)
    assert close(clustered["delta_ci95_pct"][1], 100 * (m1 / m0 - 1) + half)


def test_holdout_accuracy_and_case_share(report, raw):
    s, p, cases = raw["selection"], raw["prediction"], raw["case"]
    treated, held = _arms(s, "v1")
    joined = held.merge(p, on="prediction_id", suffixes=("", "_p"))
    top = joined[[f"template_id_{r}" for r in range(1, 6)]].to_numpy()
    hits = top == joined.template_id.to_numpy()[:, None]
    accuracy = _version(report, "v1")["holdout_accuracy"]
    assert accuracy["n"] == len(joined)
    assert close(accuracy["top1"], hits[:, 0].mean())
    assert close(accuracy["top3"], hits[:, :3].any(axis=1).mean())
    assert close(accuracy["top5"], hits.any(axis=1).mean())

    per_case = treated.groupby("case_id").size().rename("n").reset_index().merge(cases, on="case_id")
    v1 = _version(report, "v1")
    expected = v1["saving_s"] * per_case.n.mean() / per_case.handle_time_s.mean()
    assert close(v1["case_time_saved_share"], expected)


def test_srm_matches_scipy_chisquare(report, raw):
    s = raw["selection"]
    for row in report["srm_by_experiment"]:
        arms = dict(EXPERIMENTS[row["experiment"]])
        units = s[s.experiment == row["experiment"]].groupby("arm")[["advocate_id", "case_id"]].value_counts()
        observed = {arm: int((units.index.get_level_values(0) == arm).sum()) for arm in arms}
        assert row["observed"] == observed
        total = sum(observed.values())
        chi2, p = stats.chisquare([observed[a] for a in arms], [total * w / sum(arms.values()) for w in arms.values()])
        assert close(row["chi2"], chi2) and close(row["p"], p)
        assert row["flag"] is bool(p < 0.001)


def test_challenger_comparison_baseline_is_first_release(report, raw):
    s = raw["selection"]
    (comparison,) = report["comparisons"]
    assert (comparison["experiment"], comparison["baseline"], comparison["challenger"]) == ("v2-challenger", "v1", "v2")
    inside = s[s.experiment == "v2-challenger"]
    v2, v1 = inside[inside.arm == "v2"].selection_time_s, inside[inside.arm == "v1"].selection_time_s
    welch = stats.ttest_ind(v2, v1, equal_var=False)
    assert close(comparison["welch"]["t"], welch.statistic) and close(comparison["welch"]["p"], welch.pvalue)
    # Holm adjusts the interaction-level p; one comparison leaves it as it is
    assert close(comparison["p_holm"], comparison["clustered"]["p"])
    assert comparison["clustered"]["p"] > comparison["welch"]["p"]  # clustered selections: wider


def test_templates_and_mann_kendall(report, raw):
    s, p = raw["selection"], raw["prediction"]
    s = s.assign(kind=np.where(s.arm == "holdout", "holdout", "treatment"))
    means = s.pivot_table(index="template_id", columns="kind", values="selection_time_s", aggfunc="mean")
    volume = s.groupby("template_id").size()
    joined = s[s.kind == "holdout"].merge(p, on="prediction_id", suffixes=("", "_p"))
    top = joined[[f"template_id_{r}" for r in range(1, 6)]].to_numpy()
    joined["hit"] = (top == joined.template_id.to_numpy()[:, None]).any(axis=1)
    accuracy = joined.groupby("template_id").hit.mean()
    rows = report["templates"]["rows"]
    assert [r["template_id"] for r in rows] == sorted(volume.index, key=lambda t: (-volume[t], t))
    for row in rows:
        assert row["volume"] == volume[row["template_id"]]
        if row["saving_s"] is not None:
            expected = means.loc[row["template_id"], "holdout"] - means.loc[row["template_id"], "treatment"]
            assert close(row["saving_s"], expected)
            assert close(row["holdout_top5_accuracy"], accuracy[row["template_id"]])
    ordered = sorted(
        (r for r in rows if r["saving_s"] is not None), key=lambda r: (r["holdout_top5_accuracy"], r["template_id"])
    )
    savings = [r["saving_s"] for r in ordered]
    for key, test in (
        ("mann_kendall", pymannkendall.original_test),
        ("mann_kendall_hamed_rao", pymannkendall.hamed_rao_modification_test),
    ):
        reference = test(savings)
        result = report["templates"][key]
        assert close(result["s"], reference.s) and close(result["p"], reference.p)
        assert close(result["sen_slope"], reference.slope) and result["trend"] == reference.trend


def test_weekly_latency_and_totals(report, raw):
    s, p = raw["selection"], raw["prediction"]
    week = s.created_at.dt.to_period("W-SUN").dt.start_time.dt.date.astype(str)
    kind = np.where(s.arm == "holdout", "holdout", "treatment")
    expected = s.groupby([week, kind]).selection_time_s.agg(["size", "mean"])
    assert len(report["weekly"]) == len(expected)
    for row in report["weekly"]:
        n, mean = expected.loc[(row["week_start"], row["arm_kind"])]
        assert row["n"] == n and close(row["mean_s"], mean)
    for row in report["latency_ms"]:
        values = p[p.model_version == row["model_version"]].latency_ms.to_numpy()
        assert row["n"] == len(values) and close(row["max"], values.max())
        for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
            assert close(row[key], np.percentile(values, q))
    assert report["totals"] == {"selections": len(s), "predictions": len(p), "cases": len(raw["case"])}
    assert sum(d["selections"] for d in report["daily_events"]) == len(s)
    assert sum(d["predictions"] for d in report["daily_events"]) == len(p)


def test_version_without_holdout_says_why(report, raw):
    v3 = _version(report, "v3", "v3-pilot")
    reason = "no selections in holdout of v3-pilot"
    # nothing to compare, but the arm's own selections are still described (pandas on the raw rows)
    served = raw["selection"].query("experiment == 'v3-pilot' and arm == 'v3'")
    assert v3["treatment"]["n"] == len(served) > 0 and v3["treatment"]["missing"] is None
    assert close(v3["treatment"]["mean_s"], served.selection_time_s.mean())
    assert close(v3["treatment"]["sd_s"], served.selection_time_s.std(ddof=1))
    assert v3["clustered"]["interactions_treatment"] == served.case_id.nunique()
    assert v3["holdout"] == {"n": 0, "mean_s": None, "sd_s": None, "missing": "no selections"}
    assert v3["delta_s"] is None and v3["delta_s_missing"] == reason
    assert v3["welch"]["p"] is None and v3["welch"]["missing"] == reason
    assert v3["clustered"]["delta_ci95_s"] is None and v3["clustered"]["delta_ci95_s_missing"] == reason
    assert v3["verdict"]["decision"] == "not tested" and reason in v3["verdict"]["reason"]
    assert v3["holdout_accuracy"]["top1"] is None and v3["holdout_accuracy"]["missing"]
    assert v3["case_time_saved_share"] is None and v3["case_time_saved_share_missing"]


def test_report_is_strict_json(report):
    json.dumps(report, allow_nan=False)
    assert report["generated_at"] == "2026-02-01T00:00:00Z"
    assert {"versions", "comparisons", "templates", "weekly", "releases", "latency_ms"} <= set(report)


def test_window_and_experiment_filter(frames, tmp_path):
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    write_events(url, frames)
    since, until = datetime(2026, 1, 12), datetime(2026, 1, 19)
    document = build_report(url, experiment="standing", since=since, until=until, now=NOW).to_dict()
    s = frames["selection"].to_pandas()
    inside = s[(s.experiment == "standing") & (s.created_at >= since) & (s.created_at < until)]
    assert document["totals"]["selections"] == len(inside)
    assert document["window"] == {"since": "2026-01-12T00:00:00", "until": "2026-01-19T00:00:00"}
    assert [v["model_version"] for v in document["versions"]] == ["v1"]
    assert [r["experiment"] for r in document["srm_by_experiment"]] == ["standing"]


def test_empty_database_gives_empty_report(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    EventStore.open(url)
    document = build_report(url, now=NOW).to_dict()
    assert document["totals"] == {"selections": 0, "predictions": 0, "cases": 0}
    assert document["versions"] == [] and document["comparisons"] == [] and document["templates"]["rows"] == []
    assert document["templates"]["mann_kendall"]["missing"]
    json.dumps(document, allow_nan=False)


def test_single_selection_per_arm_is_degenerate_not_a_crash(frames, tmp_path):
    url = f"sqlite:///{tmp_path / 'tiny.sqlite'}"
    one = {kind: frame.head(0) for kind, frame in frames.items()}
    s = frames["selection"]
    standing = s.filter((s["model_version"] == "v1") & (s["experiment"] == "standing"))
    one["selection"] = standing.group_by("arm", maintain_order=True).head(1)
    write_events(url, one)
    v1 = build_report(url, now=NOW).to_dict()["versions"][0]
    assert v1["treatment"]["n"] == 1 and v1["holdout"]["n"] == 1
    assert v1["treatment"]["sd_s"] is None and v1["treatment"]["missing"] == "n = 1"
    assert v1["delta_s"] is not None and v1["delta_ci95_s"] is None and v1["delta_ci95_s_missing"]
    assert v1["welch"]["t"] is None and "n = 1" in v1["welch"]["missing"]
    assert v1["mde_s"] is None and v1["mde_s_missing"]


def test_unregistered_experiment_srm_is_missing(frames, tmp_path):
    url = f"sqlite:///{tmp_path / 'unregistered.sqlite'}"
    write_events(url, frames, register=False)
    document = build_report(url, now=NOW).to_dict()
    assert all(
        row["missing"] == f"experiment {row['experiment']} not registered" for row in document["srm_by_experiment"]
    )
    assert all(row["p"] is None for row in document["srm_by_experiment"])


def test_bad_arguments_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    EventStore.open(url)
    with pytest.raises(ValueError, match="top_n"):
        build_report(url, top_n=0)
    with pytest.raises(ValueError, match="since"):
        build_report(url, since=datetime(2026, 2, 1), until=datetime(2026, 1, 1))
