"""The confidence sequence on the Over time page: the table of looks and the figure of bands.

The report comes from the event store (tests/test_report_online's challenger test, v2 saving 1 s
against v1), so the looks are the report's own; the "may stop" look is worked out from them here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from dashboards import timeline
from dashboards.sequence_figure import confidence_sequences
from dashboards.view import View, build_table
from tests.test_report_online import _events, _report


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return _report(tmp_path_factory.mktemp("sequence"), _events())


def test_table_lists_every_look_and_marks_the_first_that_excludes_zero(report):
    frame = timeline.sequence_table(report)
    (comparison,) = [c for c in report["comparisons"] if c["experiment"] == "challenger"]
    challenger = frame[frame["result"] == "v2 vs v1 (challenger)"]
    assert len(challenger) == len(comparison["sequence"])
    assert challenger["cuped"].all()
    first_excluding = next(
        i for i, look in enumerate(comparison["sequence"]) if look["delta_ci95_s"][1] < 0 or look["delta_ci95_s"][0] > 0
    )
    assert challenger["may_stop"].tolist() == [i == first_excluding for i in range(len(challenger))]
    assert challenger["excludes_zero"].iloc[first_excluding:].all()
    assert 0 < first_excluding < len(challenger) - 1  # the band starts across 0 and ends below it
    # v1 against its holdout is the other result with looks; filtering by a version keeps its results
    assert set(frame["result"]) == {"v2 vs v1 (challenger)", "v1 vs holdout (challenger)"}
    assert set(timeline.sequence_table(report, "v2")["result"]) == {"v2 vs v1 (challenger)"}
    # the CSV download serves the same table
    assert build_table("sequence", report, View()).equals(frame)


def test_figure_draws_each_band_narrowing_with_the_zero_line_and_the_stop(report):
    frame = timeline.sequence_table(report)
    figure = confidence_sequences(frame)
    titles = [a.text for a in figure.layout.annotations]
    assert "v2 vs v1 (challenger), CUPED-adjusted" in titles
    bands = [t for t in figure.data if t.fill == "tonexty"]
    assert len(bands) == 2  # one band per result
    challenger = frame[frame["result"] == "v2 vs v1 (challenger)"]
    panel = list(dict.fromkeys(frame["result"])).index("v2 vs v1 (challenger)") + 1
    axis = "y" if panel == 1 else f"y{panel}"
    (lower,) = [t for t in bands if t.yaxis == axis]
    (upper,) = [t for t in figure.data if t.yaxis == axis and t.fill is None and t.mode == "lines"]
    assert list(upper.y) == challenger["ci95_high_s"].tolist() and list(lower.y) == challenger["ci95_low_s"].tolist()
    widths = pd.Series(upper.y) - pd.Series(lower.y)
    assert widths.iloc[-1] < widths.iloc[0] / 2  # the band narrows
    # a dashed zero line in every panel
    zero_lines = [s for s in figure.layout.shapes if s.y0 == 0 and s.y1 == 0]
    assert len(zero_lines) == 2 and all(s.line.dash == "dash" for s in zero_lines)
    # the stop: one star per result that may stop, at its first look excluding 0
    stars = [t for t in figure.data if t.mode == "markers+text"]
    assert all(list(t.text) == ["may stop"] for t in stars)
    stop_end = pd.Timestamp(challenger[challenger["may_stop"]]["end"].iloc[0])
    assert any(pd.Timestamp(t.x[0]) == stop_end for t in stars)


def test_no_sequence_says_so():
    figure = confidence_sequences(timeline.sequence_table({"versions": [{"model_version": "v1"}]}))
    assert "No confidence sequence" in figure.layout.annotations[0].text
