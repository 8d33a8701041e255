"""End to end on real parts: docs/walkthrough.md run as written, at small scale.

Trained models -> ``abkit serve`` (a real subprocess on a free port) -> simulated advocates
(``abkit simulate --serve-url``) -> events -> ``abkit report`` -> ``abkit dashboard`` in
headless Chromium. Once on SQLite and once on a PostgreSQL server started by the test, where
the service and the dashboard are separate processes sharing the database.

The two models are trained once (the page's training step, as its own script) and shared by
both runs; everything else on the page runs once per database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from abkit.report.verdict import DECISIONS
from abkit.training.serving_dir import read_metadata
from tests.e2e_helpers import (
    TRAINING_REPLACEMENTS,
    TRAINING_SECTION,
    Walkthrough,
    driver_cases,
    driver_counts,
    finite,
    free_port,
    small_run_replacements,
    store_counts,
    walkthrough_script,
)
from tests.pg_server import create_database

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]

# The dashboard engineer's browser helpers; `driver` is their module-scoped Chromium fixture.
from tests.browser import assert_overview_shows, open_page, table_rows  # noqa: E402
from tests.test_dashboard_browser import SCREENSHOTS, driver  # noqa: E402, F401

TRAINING_TIMEOUT_S = 2400  # 1,200 + 2,000 cases: about 2.5 min of CPU, 10-15 min on a busy 2-core machine
RUN_TIMEOUT_S = 900  # serving three times, traffic, report, until the dashboard answers
ARMS = {
    ("standing", "holdout"),
    ("standing", "v1"),
    ("v2-challenger", "holdout"),
    ("v2-challenger", "v1"),
    ("v2-challenger", "v2"),
    ("standing", "v2"),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The page's training step, run as written (smaller): models/v1 and models/v2."""
    workdir = tmp_path_factory.mktemp("trained")
    run = Walkthrough(walkthrough_script(TRAINING_REPLACEMENTS, only=TRAINING_SECTION), workdir)
    try:
        assert run.process.wait(TRAINING_TIMEOUT_S) == 0, run.log()
    finally:
        run.stop()
    return workdir / "models"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def walkthrough(request, trained, tmp_path_factory) -> Iterator[dict]:
    """The rest of the page (serve, traffic, challenger, promotion, report, dashboard) on one database."""
    workdir = tmp_path_factory.mktemp(f"walkthrough-{request.param}")
    (workdir / "models").symlink_to(trained)
    if request.param == "sqlite":
        database, url = "abkit.sqlite", f"sqlite:///{workdir / 'abkit.sqlite'}"
    else:
        server = request.getfixturevalue("postgres_server")
        database = url = create_database(server, "abkit_e2e")
    dashboard_port = free_port()
    script = walkthrough_script(small_run_replacements(free_port(), dashboard_port, database), skip=(TRAINING_SECTION,))
    run = Walkthrough(script, workdir)
    try:
        run.wait_for_url(f"http://127.0.0.1:{dashboard_port}/", RUN_TIMEOUT_S)
        yield {"name": request.param, "workdir": workdir, "url": url, "dashboard": f"http://127.0.0.1:{dashboard_port}"}
    finally:
        run.stop()


def _report(walkthrough: dict) -> dict:
    """The report the walkthrough's `abkit report` wrote (in a subprocess, which conftest's check
    does not reach: it is validated against docs/report.schema.json here)."""
    import json

    from tests.report_schema import assert_valid_report

    report = json.loads((walkthrough["workdir"] / "report.json").read_text())
    assert_valid_report(report)
    return report


def test_training_writes_two_serving_directories(trained):
    assert read_metadata(trained / "v1").model_version == "v1"
    assert read_metadata(trained / "v2").model_version == "v2"


def test_v1_beats_the_majority_baseline_and_v2_beats_v1(trained):
    # The page's step 1: at its sizes the models learn more than the label prior (held-out cases).
    v1, v2 = (read_metadata(trained / name).eval_metrics for name in ("v1", "v2"))
    assert v1["top1"] > v1["majority_top1"] + 0.1, v1
    assert v1["top5"] > v1["majority_top5"] + 0.05, v1
    assert v2["top1"] > v1["top1"] and v2["top5"] > v1["top5"], (v1, v2)


def test_events_per_arm_match_requests(walkthrough):
    sent = driver_counts(walkthrough["workdir"])
    stored = store_counts(walkthrough["url"])
    assert set(sent) == ARMS  # seeded ids and the assignment hash: every arm gets traffic
    assert stored["predictions"] == {key: counts["predictions"] for key, counts in sent.items()}
    assert stored["selections"] == {key: counts["selections"] for key, counts in sent.items()}
    # Every selection names the prediction it answers.
    assert stored["answered"] == stored["selections"]
    assert stored["cases"] == driver_cases(walkthrough["workdir"])


def test_holdout_predictions_are_logged_with_no_suggestions_shown(walkthrough):
    sent = driver_counts(walkthrough["workdir"])
    stored = store_counts(walkthrough["url"])
    for (experiment, arm), counts in sent.items():
        assert counts["predictions"] > 0, (experiment, arm)
        # The model scores every request, the holdout's included: top-5 lists are in the store.
        assert stored["scored"][experiment, arm] == counts["predictions"], (experiment, arm)
        expected_shown = 0 if arm == "holdout" else counts["predictions"]
        assert counts["shown"] == expected_shown, (experiment, arm)


def test_report_has_versions_comparison_and_templates_with_finite_statistics(walkthrough):
    report = _report(walkthrough)
    stored = store_counts(walkthrough["url"])
    assert report["totals"]["selections"] == sum(stored["selections"].values())
    assert report["totals"]["predictions"] == sum(stored["predictions"].values())
    assert report["totals"]["cases"] == stored["cases"]

    # One row per (experiment, version); the standing experiment has both versions against its holdout.
    versions = {v["model_version"]: v for v in report["versions"] if v["experiment"] == "standing"}
    assert sorted(versions) == ["v1", "v2"]
    assert all(v["verdict"]["decision"] in DECISIONS and v["verdict"]["reason"] for v in report["versions"])
    for name, version in versions.items():
        figures = {
            "treatment mean": version["treatment"]["mean_s"],
            "holdout mean": version["holdout"]["mean_s"],
            "delta_s": version["delta_s"],
            "delta CI low": version["delta_ci95_s"][0],
            "delta CI high": version["delta_ci95_s"][1],
            "welch t": version["welch"]["t"],
            "welch df": version["welch"]["df"],
            "welch p": version["welch"]["p"],
            "top1": version["holdout_accuracy"]["top1"],
            "top5": version["holdout_accuracy"]["top5"],
        }
        assert all(finite(value) for value in figures.values()), (name, figures)
        assert version["treatment"]["n"] > 0 and version["holdout"]["n"] > 0

    comparisons = [c for c in report["comparisons"] if c["experiment"] == "v2-challenger"]
    assert len(comparisons) == 1
    comparison = comparisons[0]
    assert (comparison["baseline"], comparison["challenger"]) == ("v1", "v2")
    assert all(finite(comparison["welch"][k]) for k in ("t", "df", "p")), comparison
    assert finite(comparison["delta_s"])
    # The page's step 6: 30 cases per step cannot detect the second or so v2's accuracy is worth,
    # so the verdict cannot be "no detectable difference": it says to keep collecting (or, by
    # luck of a large difference, that v2 saves time), never more than the data support.
    low, high = comparison["clustered"]["delta_ci95_s"]
    assert high - low > 2.0 and comparison["mde_s"] > 1.0, comparison
    verdict = comparison["verdict"]
    assert verdict["decision"] in ("keep collecting", "saves time"), verdict
    assert (verdict["decision"] == "saves time") == (high < 0), verdict
    # One phase, whose arm counts match its weights (0.2 / 0.4 / 0.4 at this size).
    assert [(ph["phase"], ph["srm"]["flag"]) for ph in comparison["phases"]] == [(1, False)], comparison["phases"]

    rows = report["templates"]["rows"]
    assert rows, "template table is empty"
    assert all(finite(row["volume"]) and row["volume"] > 0 for row in rows)
    assert all(finite(row[k]) for row in rows for k in ("holdout_top5_accuracy", "saving_s") if row[k] is not None)
    assert any(row["saving_s"] is not None for row in rows)
    assert (walkthrough["workdir"] / "report.html").stat().st_size > 0


def test_each_served_definition_is_a_phase_from_when_its_service_started(walkthrough):
    from abkit.events import EventStore

    with EventStore.open(walkthrough["url"], create=False) as store:
        phases = store.experiment_phases()
    assert [(p.experiment, p.phase, p.arms) for p in phases] == [
        ("standing", 1, (("holdout", 0.2), ("v1", 0.8))),
        ("standing", 2, (("holdout", 0.2), ("v2", 0.8))),
        ("v2-challenger", 1, (("holdout", 0.2), ("v1", 0.4), ("v2", 0.4))),
    ]
    standing_v1, standing_v2, challenger = phases
    assert standing_v1.started_at < challenger.started_at < standing_v2.started_at
    # Each phase began before the first event its service logged, and the step's events all
    # fall in it: the report's phase of each interaction is the definition that assigned it.
    times = _selection_times(walkthrough["url"])
    assert min(times["standing", "v1"]) >= standing_v1.started_at
    assert max(times["standing", "v1"]) < challenger.started_at
    assert min(times["v2-challenger"]) >= challenger.started_at
    assert max(times["v2-challenger"]) < standing_v2.started_at
    assert min(times["standing", "v2"]) >= standing_v2.started_at
    history = (walkthrough["workdir"] / "walkthrough.log").read_text()
    assert "standing\t2\t" in history and "v2-challenger\t1\t" in history  # the page's --history step


def _selection_times(url: str) -> dict:
    from sqlalchemy import text

    from abkit.events import connect

    engine = connect(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT experiment, model_version, created_at FROM selections")).all()
    finally:
        engine.dispose()
    times: dict = {}
    for experiment, version, created in rows:
        created = created if not isinstance(created, str) else datetime.fromisoformat(created)
        key = experiment if experiment != "standing" else (experiment, version)
        times.setdefault(key, []).append(created)
    return times


@pytest.mark.browser
def test_dashboard_overview_shows_the_report_numbers(walkthrough, driver):  # noqa: F811
    report = _report(walkthrough)
    open_page(driver, walkthrough["dashboard"] + "/", "overview-ready")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"walkthrough-overview-{walkthrough['name']}.png"))
    assert_overview_shows(table_rows(driver, "overview-table"), report["versions"])
