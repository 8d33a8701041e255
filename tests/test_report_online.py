"""The report's online figures: CUPED from the event store against the same sums built in Python,
the sequential verdict of a challenger test, and the guardrail's "do not ship"."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from abkit.events import EventStore
from abkit.report.build import build_report
from abkit.stats import CupedSummary, confidence_sequence, cuped_delta

START = datetime(2026, 3, 2)
PRE_DAYS = 28.0


def _events(seed: int = 18, interactions: int = 900, slower_cases_s: float = 0.0) -> dict[str, pl.DataFrame]:
    """A challenger test (holdout / v1 / v2 at 0.1 / 0.45 / 0.45) by advocates with persistent speeds.

    Advocates 0-29 have selections in the 20 days before START (experiment "earlier"); 30-39 have
    none (their covariate is 0). v2 saves 1 s per selection; its cases take ``slower_cases_s`` longer.
    """
    rng = np.random.default_rng(seed)
    speed = rng.normal(0, 3.0, 40)
    selections, cases = [], []
    for a in range(30):  # pre-period history
        for j in range(int(rng.integers(3, 12))):
            moment = START - timedelta(days=float(rng.uniform(0.5, 20)))
            time_s = 15 + speed[a] + rng.normal(0, 2.0)
            selections.append(("earlier", "v1", "v1", f"a{a}", f"pre-{a}-{j}", time_s, moment))
            cases.append((f"pre-{a}-{j}", 300.0, moment))
    arms, weights = ["holdout", "v1", "v2"], [0.1, 0.45, 0.45]
    for i in range(interactions):
        arm = str(rng.choice(arms, p=weights))
        a = int(rng.integers(0, 40))
        case_id = f"c{i:04d}"
        moment = START + timedelta(hours=float(rng.uniform(0, 10 * 24)))
        effect = {"holdout": 5.0, "v1": 0.0, "v2": -1.0}[arm] + rng.normal(0, 1.0)
        for _ in range(int(rng.integers(1, 5))):
            time_s = 15 + speed[a] + effect + rng.normal(0, 2.0)
            selections.append(("challenger", arm if arm != "holdout" else "v1", arm, f"a{a}", case_id, time_s, moment))
            moment += timedelta(minutes=2)
        cases.append((case_id, float(rng.normal(600, 60)) + (slower_cases_s if arm == "v2" else 0.0), moment))
    columns = ["experiment", "model_version", "arm", "advocate_id", "case_id", "selection_time_s", "created_at"]
    frame = pl.DataFrame(selections, schema=columns, orient="row").with_row_index("i")
    frame = frame.with_columns(
        selection_id=pl.format("s{}", pl.col("i")),
        message_id=pl.format("m{}", pl.col("i")),
        template_id=pl.lit("T00"),
        selection_time_s=pl.col("selection_time_s").clip(lower_bound=0.5),
    ).drop("i")
    case_frame = pl.DataFrame(cases, schema=["case_id", "handle_time_s", "closed_at"], orient="row")
    return {"selection": frame, "case": case_frame}


def _report(tmp_path, frames, **kwargs):
    url = f"sqlite:///{tmp_path / 'events.sqlite'}"
    store = EventStore.open(url)
    for kind in ("selection", "case"):
        store.write(kind, frames[kind])
    return build_report(url, now=datetime(2026, 4, 1), **kwargs).to_dict()


def _expected_cuped(frames, treatment: str, control: str):
    """CUPED of the challenger's arms from the raw selections, in Python: the report's SQL must agree."""
    s = frames["selection"]
    pre = s.filter(pl.col("created_at") < START, pl.col("created_at") >= START - timedelta(days=PRE_DAYS))
    grand = pre["selection_time_s"].mean()
    covariate = pre.group_by("advocate_id").agg(x=pl.col("selection_time_s").mean() - grand)
    arms = []
    for arm in (treatment, control):
        rows = (
            s.filter(pl.col("experiment") == "challenger", pl.col("arm") == arm)
            .group_by("advocate_id", "case_id")
            .agg(n=pl.len(), y=(pl.col("selection_time_s") - 15.0).sum())
            .join(covariate, on="advocate_id", how="left")
            .with_columns(pl.col("x").fill_null(0.0))
        )
        arms.append(CupedSummary.from_clusters(rows["n"].to_numpy(), rows["y"].to_numpy(), rows["x"].to_numpy(), 15.0))
    return cuped_delta(*arms)


def test_cuped_from_the_event_store_equals_the_sums_built_in_python(tmp_path):
    frames = _events()
    report = _report(tmp_path, frames, pre_period_days=PRE_DAYS)
    (comparison,) = [c for c in report["comparisons"] if c["experiment"] == "challenger"]
    expected = _expected_cuped(frames, "v2", "v1")
    cuped = comparison["cuped"]
    assert cuped["delta_s"] == pytest.approx(expected.delta_s, rel=1e-9)
    assert cuped["delta_ci95_s"] == pytest.approx(list(expected.ci95_s), rel=1e-9)
    assert cuped["p"] == pytest.approx(expected.p, rel=1e-6)
    assert cuped["theta"] == pytest.approx(expected.theta, rel=1e-9)
    # advocate speeds persist: the covariate explains much of the interaction-level variance
    assert cuped["variance_reduction"] == pytest.approx(expected.variance_reduction, rel=1e-9)
    assert cuped["variance_reduction"] > 0.3
    assert (
        0
        < cuped["interactions_with_history"]
        < comparison["clustered"]["interactions_treatment"] + comparison["clustered"]["interactions_control"]
    )
    assert cuped["pre_period_days"] == PRE_DAYS
    # the sequence of the adjusted estimate
    adjusted = confidence_sequence(expected.delta_s, expected.se**2, expected.units)
    assert cuped["sequential"]["delta_ci95_s"] == pytest.approx(list(adjusted.ci95_s), rel=1e-9)


def test_events_in_year_one_give_the_figures_of_the_same_events_later(tmp_path):
    """A pre-period that would start before 0001-01-01 covers all the history there is (no crash).

    Expected: the report of the same events moved to 2026 (checked against sums built in Python
    above); the history lies 0.5-20 days before the start, inside a 28-day pre-period either way.
    """
    frames = _events(interactions=300)
    back = START - datetime(1, 1, 21)  # the experiment starts on 0001-01-21: its pre-period reaches before year 1
    early = {
        kind: frame.with_columns(pl.col(c) - back for c in frame.columns if c in ("created_at", "closed_at"))
        for kind, frame in frames.items()
    }
    (tmp_path / "later").mkdir()
    later = _report(tmp_path / "later", frames, pre_period_days=PRE_DAYS)
    report = _report(tmp_path, early, pre_period_days=PRE_DAYS)
    (mine,), (theirs,) = (
        [c for c in document["comparisons"] if c["experiment"] == "challenger"] for document in (report, later)
    )
    for part in ("clustered", "cuped"):
        for name, value in theirs[part].items():
            if isinstance(value, float):
                assert mine[part][name] == pytest.approx(value, rel=1e-9), (part, name)
    assert mine["cuped"]["interactions_with_history"] == theirs["cuped"]["interactions_with_history"] > 0


def test_challenger_test_is_read_sequentially_by_default(tmp_path):
    report = _report(tmp_path, _events())
    (comparison,) = [c for c in report["comparisons"] if c["experiment"] == "challenger"]
    assert comparison["analysis"] == "sequential"
    sequential = comparison["sequential"]
    clustered = comparison["clustered"]
    assert sequential["delta_s"] == pytest.approx(clustered["delta_s"], rel=1e-12)
    # the sequence contains the fixed-horizon interval
    assert sequential["delta_ci95_s"][0] < clustered["delta_ci95_s"][0]
    assert clustered["delta_ci95_s"][1] < sequential["delta_ci95_s"][1]
    assert sequential["n_star"] == 5000 and sequential["missing"] is None
    verdict = comparison["verdict"]
    assert verdict["analysis"] == "sequential"
    assert verdict["decision"] == "saves time"
    assert "always-valid, CUPED-adjusted 95% CI" in verdict["reason"]
    for version in report["versions"]:
        assert {"analysis", "sequential", "cuped", "guardrail"} <= set(version)
        assert version["verdict"]["analysis"] == version["analysis"]


def test_declared_fixed_analysis_keeps_the_fixed_horizon_verdict(tmp_path):
    report = _report(tmp_path, _events(), analyses={"challenger": "fixed"})
    (comparison,) = [c for c in report["comparisons"] if c["experiment"] == "challenger"]
    assert comparison["analysis"] == "fixed" and comparison["verdict"]["analysis"] == "fixed"
    assert "always-valid" not in comparison["verdict"]["reason"]


def test_guardrail_worsened_says_do_not_ship(tmp_path):
    report = _report(tmp_path, _events(slower_cases_s=120.0))
    (comparison,) = [c for c in report["comparisons"] if c["experiment"] == "challenger"]
    guardrail = comparison["guardrail"]
    assert guardrail["metric"] == "case_handle_time_s" and guardrail["worsened"] is True
    assert guardrail["delta_s"] == pytest.approx(120.0, abs=30.0)
    assert comparison["verdict"]["decision"] == "do not ship: guardrail"
    assert "case handle time rose" in comparison["verdict"]["reason"]
    assert "although selections got" in comparison["verdict"]["reason"]
    # without the slower cases the guardrail holds
    calm = _report(tmp_path / "calm", _events())
    (calm_comparison,) = [c for c in calm["comparisons"] if c["experiment"] == "challenger"]
    assert calm_comparison["guardrail"]["worsened"] is False


def _same_online_figures(url, tmp_path):
    frames = _events()
    sqlite_report = _report(tmp_path, frames)
    store = EventStore.open(url)
    for kind in ("selection", "case"):
        store.write(kind, frames[kind])
    other = build_report(url, now=datetime(2026, 4, 1)).to_dict()
    for key in ("versions", "comparisons"):
        for mine, theirs in zip(other[key], sqlite_report[key], strict=True):
            for part in ("sequential", "cuped", "guardrail"):
                for name, value in theirs[part].items():
                    if isinstance(value, float):
                        assert mine[part][name] == pytest.approx(value, rel=1e-9), (key, part, name)
                    elif not isinstance(value, dict | list):
                        assert mine[part][name] == value, (key, part, name)


def test_duckdb_gives_the_sqlite_online_figures(tmp_path):
    _same_online_figures(f"duckdb:///{tmp_path / 'events.duckdb'}", tmp_path)


@pytest.mark.postgres
def test_postgres_gives_the_sqlite_online_figures(postgres_url, tmp_path):
    _same_online_figures(postgres_url, tmp_path)


@pytest.mark.parametrize("dialect", ["postgresql", "trino"])
def test_online_queries_compile_for_other_dialects(dialect):
    from sqlalchemy.dialects import postgresql

    from abkit.report.groups import Plan, Window
    from abkit.report.online_queries import grain_groups_query, handle_time_groups_query

    if dialect == "trino":
        trino = pytest.importorskip("trino.sqlalchemy.dialect")
        compiled_dialect = trino.TrinoDialect()
    else:
        compiled_dialect = postgresql.dialect()
    window = Window("challenger", START, START + timedelta(days=14))
    starts = {"challenger": START, "other": START + timedelta(days=1)}
    grains = str(grain_groups_query(window, Plan(), starts, timedelta(days=PRE_DAYS)).compile(dialect=compiled_dialect))
    assert "WITH pre_period AS" in grains and "JOIN (SELECT pre_period.experiment" in grains  # the grand mean
    handle_times = str(handle_time_groups_query(window, Plan()).compile(dialect=compiled_dialect))
    assert "OVER (PARTITION BY" in handle_times
    # no experiment start: no covariate (x = 0), the interaction sums per bucket all the same
    plain = str(grain_groups_query(window, Plan(), {}, timedelta(days=1)).compile(dialect=compiled_dialect))
    assert "pre_period" not in plain and "GROUP BY" in plain


def test_cli_reads_the_declared_analysis_from_the_experiments_file(tmp_path):
    import json

    from click.testing import CliRunner

    from abkit.cli.main import cli

    path = tmp_path / "events.sqlite"
    store = EventStore.open(f"sqlite:///{path}")
    frames = _events(interactions=300)
    for kind in ("selection", "case"):
        store.write(kind, frames[kind])
    config = tmp_path / "experiments.toml"
    config.write_text(
        '[experiments.challenger]\nsalt = "c"\narms = { holdout = 0.1, v1 = 0.45, v2 = 0.45 }\nanalysis = "fixed"\n'
    )
    runner = CliRunner()
    args = ["report", "--db", str(path), "--format", "json", "--pre-period-days", "14"]
    declared = json.loads(runner.invoke(cli, [*args, "--experiments-file", str(config)], catch_exceptions=False).output)
    default = json.loads(runner.invoke(cli, args, catch_exceptions=False).output)
    assert [c["verdict"]["analysis"] for c in declared["comparisons"]] == ["fixed"]
    assert [c["verdict"]["analysis"] for c in default["comparisons"]] == ["sequential"]
    assert declared["comparisons"][0]["cuped"]["pre_period_days"] == 14.0
    config.write_text('[experiments.challenger]\nsalt = "c"\narms = { holdout = 0.5, v1 = 0.5 }\nanalysis = "maybe"\n')
    refused = runner.invoke(cli, [*args, "--experiments-file", str(config)])
    assert refused.exit_code == 2 and "analysis must be one of" in refused.output


def test_markdown_and_html_show_the_online_table(tmp_path):
    from abkit.report.contract import Report
    from abkit.report.render_html import render_html
    from abkit.report.render_markdown import render_markdown

    report = _report(tmp_path, _events(interactions=300))
    markdown = render_markdown(Report.model_validate(report))
    assert "## Online monitoring: always-valid, CUPED and guardrail" in markdown
    (row,) = [line for line in markdown.splitlines() if line.startswith("| challenger | v2 vs v1 | sequential |")]
    assert "%" in row and row.endswith("| ok |")
    assert "Online monitoring" in render_html(Report.model_validate(report))
    # a snapshot from before the online figures renders without the table
    for key in ("versions", "comparisons"):
        for result in report[key]:
            for part in ("analysis", "sequential", "sequence", "sequence_cuped", "cuped", "guardrail"):
                result.pop(part)
    assert "Online monitoring" not in render_markdown(Report.model_validate(report))


def test_sequential_analysis_keeps_the_reason_when_there_is_no_interval():
    from types import SimpleNamespace

    from abkit.report.online_verdict import online_verdict
    from abkit.report.verdict import Verdict

    # a pair with nothing to compare keeps its fixed decision and reason, named sequential
    fixed = Verdict("not tested", "v3 against the holdout in x: nothing to compare (no holdout).")
    nothing = SimpleNamespace(ci95_s=None, delta_s=None, missing="no holdout")
    figures = SimpleNamespace(
        analysis="sequential",
        guardrail_check=SimpleNamespace(worsened=None),
        cuped=nothing,
        cuped_sequential=nothing,
        sequential=nothing,
    )
    comparison = SimpleNamespace(delta=nothing)
    verdict = online_verdict(
        fixed,
        comparison,
        figures,
        "v3",
        "the holdout in x",
        p_sequential=None,
        share_of_case_time=None,
        min_effect_s=0.25,
    )
    assert (verdict.decision, verdict.reason, verdict.analysis) == ("not tested", fixed.reason, "sequential")
