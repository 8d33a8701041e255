"""A rollout as the simulator and the service record it: a standing experiment re-pointed from
v1 to v2 (two phases, arms one after the other) beside a registered challenger test.

Expected values come from scipy.stats.chisquare on counts made here, and from the rule that
only arms randomised side by side are compared.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from scipy import stats

from abkit.events import EventStore
from abkit.report.build import build_report

START = datetime(2026, 3, 2)
# interactions per (experiment, arm, model_version that scored it), and the period they fall in
PLAN = [
    ("standing", "holdout", "v1", 9, 0),
    ("standing", "v1", "v1", 400, 0),
    ("v2-challenger", "holdout", "v1", 4, 1),
    ("v2-challenger", "v1", "v1", 100, 1),
    ("v2-challenger", "v2", "v2", 110, 1),
    ("standing", "holdout", "v2", 12, 2),
    ("standing", "v2", "v2", 390, 2),
]


def _write(url: str, *, register: bool, challenger_lead_s: float = 0.0) -> None:
    """The PLAN's selections; ``challenger_lead_s`` moves the challenger's (v2's) selections in
    the challenger test that much earlier, so that v2 answers there first."""
    store = EventStore.open(url)
    if register:
        # As ops staff record it: standing re-pointed from v1 to v2 at the release (a new phase).
        store.register_experiment("standing", "s", [("holdout", 0.02), ("v1", 0.98)], at=START)
        store.register_experiment(
            "v2-challenger", "c", [("holdout", 0.02), ("v1", 0.49), ("v2", 0.49)], at=START + timedelta(days=14)
        )
        store.register_experiment("standing", "s", [("holdout", 0.02), ("v2", 0.98)], at=START + timedelta(days=28))
    rows = []
    for experiment, arm, version, count, period in PLAN:
        for i in range(count):
            for j in range(2):  # two selections per interaction
                rows.append(
                    {
                        "selection_id": f"{experiment}-{arm}-{version}-{i}-{j}",
                        "case_id": f"{experiment}-{arm}-{version}-c{i}",
                        "message_id": f"m{i}-{j}",
                        "advocate_id": f"a{i % 5}",
                        "experiment": experiment,
                        "arm": arm,
                        "model_version": version,
                        "template_id": "T1",
                        "selection_time_s": (19.0 if arm == "holdout" else 13.0) + (i % 7) * 0.3 + j,
                        "created_at": START
                        + timedelta(days=14 * period, minutes=i)
                        - timedelta(seconds=challenger_lead_s if (experiment, arm) == ("v2-challenger", "v2") else 0),
                        "prediction_id": None,
                    }
                )
    store.write("selection", rows)


@pytest.fixture
def registered(tmp_path):
    url = f"sqlite:///{tmp_path / 'rollout.sqlite'}"
    _write(url, register=True)
    return build_report(url).to_dict()


def test_only_the_challenger_test_is_a_comparison(registered):
    assert [(c["experiment"], c["baseline"], c["challenger"]) for c in registered["comparisons"]] == [
        ("v2-challenger", "v1", "v2")
    ]


def test_standing_srm_is_tested_per_phase_against_that_phases_weights(registered):
    phases = {row["phase"]: row for row in registered["srm_by_experiment"] if row["experiment"] == "standing"}
    assert sorted(phases) == [1, 2]
    for phase, arm, held, treated in ((1, "v1", 9, 400), (2, "v2", 12, 390)):
        chi2, p = stats.chisquare([held, treated], [(held + treated) * 0.02, (held + treated) * 0.98])
        assert phases[phase]["observed"] == {"holdout": held, arm: treated}
        assert phases[phase]["chi2"] == pytest.approx(chi2, rel=1e-9)
        assert phases[phase]["p"] == pytest.approx(p, rel=1e-9)
        assert phases[phase]["flag"] is False


def test_each_version_row_is_within_one_experiment_and_carries_its_srm(registered):
    rows = {(v["experiment"], v["model_version"]): v for v in registered["versions"]}
    assert set(rows) == {("standing", "v1"), ("standing", "v2"), ("v2-challenger", "v1"), ("v2-challenger", "v2")}
    for version, phase, held, treated in (("v1", 1, 9, 400), ("v2", 2, 12, 390)):
        chi2, p = stats.chisquare([held, treated], [(held + treated) * 0.02, (held + treated) * 0.98])
        assert rows["standing", version]["srm"]["phase"] == phase
        assert rows["standing", version]["srm"]["p"] == pytest.approx(p, rel=1e-9), version
    # each standing row compares with the holdout it scored there, never the challenger's holdout
    assert rows["standing", "v1"]["holdout"]["n"] == 9 * 2 and rows["standing", "v2"]["holdout"]["n"] == 12 * 2
    assert rows["v2-challenger", "v1"]["holdout"]["n"] == 4 * 2
    assert rows["v2-challenger", "v2"]["delta_s"] is None  # v1 scored that holdout


def test_unregistered_sequential_arms_are_not_compared_but_concurrent_ones_are(tmp_path):
    url = f"sqlite:///{tmp_path / 'unregistered.sqlite'}"
    _write(url, register=False)
    document = build_report(url).to_dict()
    assert [(c["experiment"], c["baseline"], c["challenger"]) for c in document["comparisons"]] == [
        ("v2-challenger", "v1", "v2")
    ]
    compared = [v for v in document["versions"] if v["holdout"]["n"]]
    assert all(v["srm"] is None and "not registered" in v["srm_missing"] for v in compared)
    # standing's v1 and v2 ran one after the other: not a challenger test, so no comparison row


def test_the_baseline_is_the_version_that_served_first_anywhere_not_first_in_the_test(tmp_path):
    # Both arms of a challenger test start together, so which answers first there is a race
    # (the service scores each model in its own process). v2 answers first here, but v1 has
    # served in the standing experiment since two weeks before: v1 is the baseline.
    url = f"sqlite:///{tmp_path / 'race.sqlite'}"
    _write(url, register=False, challenger_lead_s=30)
    document = build_report(url).to_dict()
    assert [(c["experiment"], c["baseline"], c["challenger"]) for c in document["comparisons"]] == [
        ("v2-challenger", "v1", "v2")
    ]
