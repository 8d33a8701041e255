"""The case-handle-time guardrail compared within each phase: a ramp cannot pass for a worse version.

The world: a challenger ramped from 10% to 49% while every case got 150 s longer in the second
phase (a busier season), the same in every arm. Pooled over the phases the challenger's cases look
about 70 s longer (scipy's Welch test on the pooled cases says so, p < 1e-9); compared within each
phase and combined with the primary delta's weights (worked in numpy here) the guardrail sees no
difference and the verdict is not "do not ship".
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from abkit.events import EventStore
from abkit.report.build import build_report

START = datetime(2026, 5, 4)
RAMP = START + timedelta(days=3)
FIRST = [("holdout", 0.02), ("v4", 0.88), ("v5", 0.10)]
SECOND = [("holdout", 0.02), ("v4", 0.49), ("v5", 0.49)]
SEASON_S = 150.0  # every case of the second phase takes this much longer


def _ramp(url: str) -> dict[tuple[int, str], np.ndarray]:
    """One selection per interaction, one interaction per case; returns handle times per (phase, arm)."""
    store = EventStore.open(url)
    store.register_experiment("v5-challenger", "v5", FIRST, at=START)
    store.register_experiment("v5-challenger", "v5", SECOND, at=RAMP)
    rng = np.random.default_rng(12)
    selections, cases, times, i = [], [], {}, 0
    for phase, start, weights in ((1, START, FIRST), (2, RAMP, SECOND)):
        for arm in rng.choice([a for a, _ in weights], size=2000, p=[w for _, w in weights]):
            arm = str(arm)
            when = start + timedelta(minutes=i % 3000)
            selections.append(
                {
                    "selection_id": f"s{i}",
                    "case_id": f"c{i}",
                    "message_id": f"m{i}",
                    "advocate_id": f"a{i % 11}",
                    "experiment": "v5-challenger",
                    "arm": arm,
                    "model_version": "v4" if arm == "holdout" else arm,
                    "template_id": "T1",
                    "selection_time_s": {"holdout": 19.0, "v4": 13.0, "v5": 12.0}[arm] + rng.normal(0, 3),
                    "created_at": when,
                    "prediction_id": None,
                }
            )
            handle = 600.0 + (SEASON_S if phase == 2 else 0.0) + rng.normal(0, 60)
            cases.append({"case_id": f"c{i}", "handle_time_s": handle, "closed_at": when + timedelta(minutes=10)})
            times.setdefault((phase, arm), []).append(handle)
            i += 1
    store.write("selection", selections)
    store.write("case", cases)
    return {key: np.array(values) for key, values in times.items()}


def test_a_ramp_does_not_confound_the_guardrail(tmp_path):
    url = f"sqlite:///{tmp_path / 'ramp.sqlite'}"
    times = _ramp(url)
    report = build_report(url).to_dict()
    (comparison,) = report["comparisons"]
    assert (comparison["challenger"], comparison["baseline"]) == ("v5", "v4")
    guardrail = comparison["guardrail"]

    # pooled over the phases, the challenger's cases look much longer (the confound)
    pooled_v5 = np.concatenate([times[1, "v5"], times[2, "v5"]])
    pooled_v4 = np.concatenate([times[1, "v4"], times[2, "v4"]])
    assert pooled_v5.mean() - pooled_v4.mean() > 50
    assert stats.ttest_ind(pooled_v5, pooled_v4, equal_var=False).pvalue < 1e-9

    # within each phase, weighted by its interactions in both arms (the primary delta's weights)
    weights = np.array([times[p, "v5"].size + times[p, "v4"].size for p in (1, 2)], dtype=float)
    weights /= weights.sum()
    delta = sum(w * (times[p, "v5"].mean() - times[p, "v4"].mean()) for w, p in zip(weights, (1, 2), strict=True))
    variance = sum(
        w * w * (times[p, "v5"].var(ddof=1) / times[p, "v5"].size + times[p, "v4"].var(ddof=1) / times[p, "v4"].size)
        for w, p in zip(weights, (1, 2), strict=True)
    )
    assert guardrail["delta_s"] == pytest.approx(delta, rel=1e-9)
    low, high = guardrail["delta_ci95_s"]
    assert (high - low) / 2 == pytest.approx(1.96 * np.sqrt(variance), rel=0.01)  # Welch t, df in the thousands
    assert guardrail["n_treatment"] == pooled_v5.size and guardrail["n_control"] == pooled_v4.size
    assert abs(guardrail["delta_s"]) < 15 and low < 0 < high
    assert guardrail["worsened"] is False
    assert comparison["verdict"]["decision"] != "do not ship: guardrail"
    # the stratified means, not the pooled ones
    stratified_v4 = sum(w * times[p, "v4"].mean() for w, p in zip(weights, (1, 2), strict=True))
    assert guardrail["mean_control_s"] == pytest.approx(stratified_v4, rel=1e-9)


def test_a_worse_challenger_is_still_caught_within_the_phases(tmp_path):
    url = f"sqlite:///{tmp_path / 'ramp.sqlite'}"
    _ramp(url)
    store = EventStore.open(url)
    # every v5 case of both phases takes 40 s longer: rewrite them (same ids, new handle times)
    from sqlalchemy import text

    with store.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE cases SET handle_time_s = handle_time_s + 40 WHERE case_id IN "
                "(SELECT case_id FROM selections WHERE arm = 'v5')"
            )
        )
    (comparison,) = build_report(url).to_dict()["comparisons"]
    assert comparison["guardrail"]["delta_s"] == pytest.approx(40, abs=12)
    assert comparison["guardrail"]["worsened"] is True
    assert comparison["verdict"]["decision"] == "do not ship: guardrail"
