"""Load-test summaries; expected values worked by hand or with numpy's linear percentiles."""

import pytest

from abkit.loadtest.stats import Outcome, RateSummary, format_summary, peak_window_mean, summarize, window_for


def test_window_is_a_minute_for_five_minute_runs_and_a_fifth_of_shorter_ones():
    assert window_for(300) == 60
    assert window_for(600) == 60
    assert window_for(30) == 6
    assert window_for(2) == 1  # never below a second


def test_peak_window_mean_by_hand():
    # Samples at t = 0..5 with latencies 1, 1, 1, 10, 10, 1; windows of 2 s within a 6 s run:
    # [0,2) -> 1, [1,3) -> 1, [2,4) -> 5.5, [3,5) -> 10, [4,6) -> 5.5; [5,7) does not fit.
    assert peak_window_mean([0, 1, 2, 3, 4, 5], [1, 1, 1, 10, 10, 1], 2, 6) == pytest.approx(10)


def test_peak_window_ignores_windows_running_past_the_end():
    # The last sample alone is slow, but a window starting at t=5 would end after the run.
    assert peak_window_mean([0, 1, 2, 3, 4, 5], [1, 1, 1, 1, 1, 100], 2, 6) == pytest.approx(50.5)


def test_peak_window_of_a_run_shorter_than_the_window_is_the_run_mean():
    assert peak_window_mean([0, 1], [2, 4], 60, 2) == pytest.approx(3)
    assert peak_window_mean([], [], 60, 2) is None


def test_unsorted_samples_are_sorted_by_time():
    assert peak_window_mean([3, 0, 2, 1], [10, 1, 1, 1], 2, 4) == peak_window_mean([0, 1, 2, 3], [1, 1, 1, 10], 2, 4)


def test_summary_counts_errors_and_uses_only_successes_for_latency():
    outcomes = [Outcome(i * 0.1, (i + 1) / 1000, "200") for i in range(100)]  # 1..100 ms
    outcomes += [Outcome(0.5, 0.002, "429"), Outcome(0.6, 5.0, "timeout"), Outcome(0.7, 0.001, "429")]
    summary = summarize(outcomes, target_rps=10, duration_s=10)
    assert isinstance(summary, RateSummary)
    assert (summary.sent, summary.ok) == (103, 100)
    assert summary.errors == {"429": 2, "timeout": 1}
    assert summary.achieved_rps == 10
    # numpy.percentile(linear) of 1..100: P50 = 50.5, P99 = 99.01.
    assert summary.p50_ms == pytest.approx(50.5)
    assert summary.p99_ms == pytest.approx(99.01)
    assert summary.max_ms == pytest.approx(100)
    assert summary.mean_ms == pytest.approx(50.5)
    # 2 s windows over latencies rising with time: the last full window [8, 10) holds 81..100 ms.
    assert summary.window_s == 2
    assert summary.peak_window_mean_ms == pytest.approx(90.5)
    line = format_summary(summary)
    assert "P99 99.0 ms" in line and "429: 2" in line and "timeout: 1" in line


def test_summary_of_a_run_with_no_success():
    summary = summarize([Outcome(0, 1, "503")], target_rps=1, duration_s=1)
    assert summary.ok == 0 and summary.p50_ms is None and summary.peak_window_mean_ms is None
    assert summary.to_dict()["errors"] == {"503": 1}
    assert "P50 -" in format_summary(summary)


def test_a_slipping_schedule_is_flagged_and_the_rate_is_over_the_real_elapsed_time():
    # 10 requests due every 0.1 s; the client sent each 0.3 s after its due time, and the last
    # two never left before timing out. Answers came 0.05 s after sending; the last at 2.0 s.
    outcomes = [Outcome(i / 10, 0.35, "200", sent_s=i / 10 + 0.3, done_s=i / 10 + 0.35) for i in range(8)]
    outcomes += [Outcome(0.8, 1.0, "timeout", sent_s=None, done_s=1.8), Outcome(0.9, 1.1, "timeout", None, 2.0)]
    summary = summarize(outcomes, target_rps=10, duration_s=1.0)
    assert (summary.ok, summary.not_sent, summary.elapsed_s) == (8, 2, 2.0)
    assert summary.achieved_rps == 4.0  # 8 answers in 2 s, not 8 in the nominal 1 s
    assert summary.send_lag_p99_ms == pytest.approx(300)
    assert summary.fell_behind
    assert summary.warning.startswith("the client fell behind at 10 req/s: half the requests left more than 300 ms")
    assert "2 timed out before they could leave" in summary.warning
    assert "10 requests took 2.0 s for a 1 s stage" in summary.warning
    on_time = [Outcome(i / 10, 0.05, "200", sent_s=i / 10 + 0.002, done_s=i / 10 + 0.05) for i in range(10)]
    assert not summarize(on_time, 10, 1.0).fell_behind
