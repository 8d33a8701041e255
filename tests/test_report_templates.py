"""The template trend over each top-N view (abkit.report.templates.template_trends)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abkit.report.contract import Report
from abkit.report.templates import TREND_TOP_N, template_trends
from dashboards.pages.templates import TOP_N_CHOICES

ROWS = Report.model_validate(
    json.loads((Path(__file__).parent / "data" / "report_snapshot.json").read_text())
).templates.rows


@pytest.mark.parametrize(
    ("top_n", "s", "tau", "z", "p"),
    [
        # Worked by hand from the fixture's rows. Top 3 by accuracy: savings 6.3, 7.1, 8.2: S = 3,
        # tau = 1, Var S = 3*2*11/18, z = (S - 1) / sqrt(Var S) = 1.0445, p = 2 (1 - Phi(z)) = 0.2963.
        (3, 3, 1.0, 1.0445, 0.2963),
        # Top 5: savings by accuracy 5.5, 6.9, 6.3, 7.1, 8.2: S = 4 + 1 + 2 + 1 = 8, tau = 0.8,
        # Var S = 5*4*15/18 = 16.67, z = 7 / 4.0825 = 1.7146, p = 0.0864.
        (5, 8, 0.8, 1.7146, 0.0864),
    ],
)
def test_trend_is_tested_over_exactly_the_top_n(top_n, s, tau, z, p):
    trend = template_trends(ROWS, top_n)[-1]
    original = trend.mann_kendall
    assert trend.top_n == top_n and trend.templates == top_n
    assert original.n == top_n and original.s == s and original.method == "original"
    assert original.tau == pytest.approx(tau)
    assert original.z == pytest.approx(z, abs=1e-4) and original.p == pytest.approx(p, abs=1e-4)
    assert trend.mann_kendall_hamed_rao.method == "hamed_rao"


def test_one_trend_per_view_below_the_tables_n_and_its_own_last():
    assert [t.top_n for t in template_trends(ROWS, 8)] == [5, 8]
    assert [t.top_n for t in template_trends(ROWS, 50)] == [5, 10, 20, 50]
    # the dashboard offers exactly the views the report tests
    assert TOP_N_CHOICES == TREND_TOP_N


def test_too_few_templates_say_why():
    assert template_trends(ROWS, 2)[-1].mann_kendall.missing == "n = 2, need at least 3 values"
