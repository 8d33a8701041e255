"""Latency summaries of a load-test run (pure: outcomes in, a frozen summary out).

Figures follow the published load test: peak 1-minute average latency (the mean over the
worst full window; for runs shorter than five minutes the window is a fifth of the run),
P50, P99 and max latency, and error counts per status. Latencies count from each request's
due time (no coordinated omission); the achieved rate is over the real elapsed time; and a
run whose client could not send on schedule is flagged with a warning, since its latencies
then include the client's own backlog.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

OK_STATUS = "200"
PUBLISHED_WINDOW_S = 60.0
# The client fell behind when the typical request (the median) left this much after its due
# time, or 1% left later than CLIENT_STALL_LIMIT_MS: then the schedule slipped, not just
# asyncio's timer on a busy machine (a few ms, and single pauses near 100 ms at load 18 on 2 cores).
CLIENT_LAG_LIMIT_MS = 50.0
CLIENT_STALL_LIMIT_MS = 250.0


@dataclass(frozen=True)
class Outcome:
    """One request of a run.

    Attributes:
        due_s: when it was scheduled, in seconds from the start of the run.
        latency_s: from the scheduled time to the answer (so client-side queueing counts
            and a slow server cannot hide latency by slowing the sender).
        status: the HTTP status as text, or ``timeout`` / ``connection_error``.
        sent_s: when it actually left (a connection free, the client on time), from the start
            of the run; None when it timed out before it could leave.
        done_s: when it was answered (or gave up), from the start of the run.
    """

    due_s: float
    latency_s: float
    status: str
    sent_s: float | None = None
    done_s: float | None = None


@dataclass(frozen=True)
class RateSummary:
    """What one fixed-rate run measured (latencies of successful requests, in ms)."""

    target_rps: float
    duration_s: float  # planned: the last request is due at about duration_s
    sent: int  # requests of the run (due), including any that never left
    ok: int
    elapsed_s: float  # real: from the first due time to the last answer
    achieved_rps: float  # successful answers per second of elapsed_s
    send_lag_p99_ms: float | None  # P99 of (actual send - due time); None when none left
    not_sent: int  # requests that timed out before they could leave
    fell_behind: bool  # the client could not send on schedule (see warning)
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    peak_window_mean_ms: float | None
    window_s: float
    errors: dict[str, int] = field(default_factory=dict)
    warning: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def window_for(duration_s: float) -> float:
    """The averaging window: one minute for runs of five minutes or more, else a fifth of the run."""
    return min(PUBLISHED_WINDOW_S, max(duration_s / 5, 1.0))


def peak_window_mean(
    times: Sequence[float], values: Sequence[float], window_s: float, duration_s: float
) -> float | None:
    """The largest mean of ``values`` over windows ``[t, t + window_s)`` that fit in the run.

    Windows start at each sample time (where the mean can change); only windows ending by
    ``duration_s`` count, unless none does, when the whole run is one window.

    Returns:
        None when there are no samples.
    """
    if len(times) == 0:
        return None
    order = np.argsort(np.asarray(times), kind="stable")
    t = np.asarray(times, dtype=float)[order]
    v = np.asarray(values, dtype=float)[order]
    cumulative = np.concatenate([[0.0], np.cumsum(v)])
    starts = np.arange(len(t))
    ends = np.searchsorted(t, t + window_s, side="left")  # first index outside [t_i, t_i + w)
    full = t + window_s <= duration_s + 1e-9
    if not full.any():
        return float(v.mean())
    means = (cumulative[ends] - cumulative[starts]) / (ends - starts)
    return float(means[full].max())


def summarize(
    outcomes: Sequence[Outcome], target_rps: float, duration_s: float, window_s: float | None = None
) -> RateSummary:
    """Summarize one run at ``target_rps`` lasting ``duration_s``.

    Percentiles use linear interpolation between order statistics (numpy's default).
    """
    window = window_for(duration_s) if window_s is None else window_s
    ok = [o for o in outcomes if o.status == OK_STATUS]
    latencies_ms = np.array([o.latency_s * 1000 for o in ok], dtype=float)
    errors = dict(sorted(Counter(o.status for o in outcomes if o.status != OK_STATUS).items()))

    def stat(fn) -> float | None:
        return round(float(fn(latencies_ms)), 3) if latencies_ms.size else None

    peak = peak_window_mean([o.due_s for o in ok], latencies_ms.tolist(), window, duration_s)
    ends = [o.done_s if o.done_s is not None else o.due_s + o.latency_s for o in outcomes]
    elapsed = max([*ends, duration_s if not outcomes else 0.0, 1e-9])
    lags_ms = np.array([(o.sent_s - o.due_s) * 1000 for o in outcomes if o.sent_s is not None], dtype=float)
    lag_p50 = float(np.percentile(lags_ms, 50)) if lags_ms.size else 0.0
    lag_p99 = round(float(np.percentile(lags_ms, 99)), 3) if lags_ms.size else None
    not_sent = sum(1 for o in outcomes if o.sent_s is None and o.done_s is not None)
    fell_behind = not_sent > 0 or lag_p50 > CLIENT_LAG_LIMIT_MS or (lag_p99 or 0.0) > CLIENT_STALL_LIMIT_MS
    warning = None
    if fell_behind:
        warning = (
            f"the client fell behind at {target_rps:g} req/s: half the requests left more than "
            f"{lag_p50:.0f} ms and 1% more than {lag_p99 or 0:.0f} ms after their due time"
            + (f" and {not_sent} timed out before they could leave" if not_sent else "")
            + f"; {len(outcomes)} requests took {elapsed:.1f} s for a {duration_s:g} s stage. Latencies count from "
            "the due time, so they include this backlog; raise --concurrency or run the client on another machine"
        )
    return RateSummary(
        target_rps=target_rps,
        duration_s=duration_s,
        sent=len(outcomes),
        ok=len(ok),
        elapsed_s=round(elapsed, 3),
        achieved_rps=round(len(ok) / elapsed, 3),
        send_lag_p99_ms=lag_p99,
        not_sent=not_sent,
        fell_behind=fell_behind,
        p50_ms=stat(lambda a: np.percentile(a, 50)),
        p99_ms=stat(lambda a: np.percentile(a, 99)),
        max_ms=stat(np.max),
        mean_ms=stat(np.mean),
        peak_window_mean_ms=None if peak is None else round(peak, 3),
        window_s=window,
        errors=errors,
        warning=warning,
    )


def format_summary(summary: RateSummary) -> str:
    """One human-readable line."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    errors = ", ".join(f"{status}: {count}" for status, count in summary.errors.items()) or "none"
    return (
        f"{summary.target_rps:g} req/s for {summary.duration_s:g} s: sent {summary.sent}, ok {summary.ok} "
        f"in {summary.elapsed_s:g} s ({summary.achieved_rps:g}/s) | peak {summary.window_s:g}s mean {ms(summary.peak_window_mean_ms)}, "
        f"P50 {ms(summary.p50_ms)}, P99 {ms(summary.p99_ms)}, max {ms(summary.max_ms)} | errors: {errors}"
    )
