"""The open-loop sender and the `abkit loadtest` command against a small stand-in service."""

import asyncio
import itertools
import json
import time

import pytest
from click.testing import CliRunner
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from abkit.cli.loadtest import loadtest, parse_rates
from abkit.loadtest.runner import run_rate, wait_ready
from abkit.loadtest.stats import CLIENT_LAG_LIMIT_MS, CLIENT_STALL_LIMIT_MS, summarize
from abkit.serving.server import free_port
from tests.serve_thread import background_server


def stand_in_app(state: dict) -> FastAPI:
    """Answers 200, except every third request 429; slow for bodies asking to be, and by ``state["delay_s"]``."""
    app = FastAPI()
    counter = itertools.count()

    @app.get("/ready")
    async def ready():
        return JSONResponse({}, status_code=200 if state.get("ready", True) else 503)

    @app.post("/v1/suggest")
    async def suggest(request: Request):
        body = await request.json()
        state.setdefault("bodies", []).append(body)
        state["authorization"] = request.headers.get("authorization")
        if body["case_id"] == "slow":
            await asyncio.sleep(1.0)
        await asyncio.sleep(state.get("delay_s", 0.0))
        if next(counter) % 3 == 2:
            return JSONResponse({"detail": "busy"}, status_code=429)
        return {"suggestions": []}

    return app


@pytest.fixture
def stand_in():
    state: dict = {}
    with background_server(stand_in_app(state)) as url:
        yield url, state


def bodies(case_id="c"):
    return itertools.repeat({"case_id": case_id, "message_id": "m", "advocate_id": "a", "messages": []})


def test_sends_rate_times_duration_requests_and_records_statuses(stand_in):
    url, state = stand_in
    outcomes = asyncio.run(run_rate(url, 30, 1.0, bodies(), headers={"Authorization": "Bearer t"}))
    assert len(outcomes) == 30 == len(state["bodies"])
    statuses = sorted(o.status for o in outcomes)
    assert statuses.count("429") == 10 and statuses.count("200") == 20
    # Open loop: request i is due at i / rps whatever the answers.
    assert [round(o.due_s, 6) for o in sorted(outcomes, key=lambda o: o.due_s)] == [round(i / 30, 6) for i in range(30)]
    assert all(o.latency_s > 0 for o in outcomes)
    assert state["authorization"] == "Bearer t"


def test_timeouts_and_refused_connections_are_counted_not_raised(stand_in):
    url, _ = stand_in
    slow = asyncio.run(run_rate(url, 5, 0.4, bodies("slow"), timeout_s=0.2))
    assert {o.status for o in slow} == {"timeout"}
    closed = asyncio.run(run_rate(f"http://127.0.0.1:{free_port()}", 5, 0.4, bodies()))
    assert {o.status for o in closed} == {"connection_error"}


def test_refuses_nonsense_rates():
    with pytest.raises(ValueError, match="must be positive"):
        asyncio.run(run_rate("http://127.0.0.1:1", 0, 1, bodies()))
    assert parse_rates(("10,50", "100")) == [10, 50, 100]


def test_wait_ready_times_out_with_the_last_answer(stand_in):
    url, state = stand_in
    state["ready"] = False
    with pytest.raises(TimeoutError, match="not ready after 0.3 s"):
        wait_ready(url, 0.3)
    state["ready"] = True
    wait_ready(url, 5)


def test_cli_runs_each_rate_prints_and_saves_json(stand_in, tmp_path):
    url, state = stand_in
    out = tmp_path / "results.json"
    result = CliRunner().invoke(
        loadtest,
        ["--url", url, "--rps", "10,20", "--duration", "0.5", "--out", str(out), "--pause", "0"],
    )
    assert result.exit_code == 0, result.output
    assert "10 req/s for 0.5 s: sent 5" in result.output and "20 req/s for 0.5 s: sent 10" in result.output
    saved = json.loads(out.read_text())
    assert [r["target_rps"] for r in saved["results"]] == [10, 20]
    assert saved["results"][0]["sent"] == 5 and set(saved["results"][0]["errors"]) <= {"429"}
    assert saved["cases"] == "simulated (seed 0)"
    assert all(body["messages"] for body in state["bodies"])  # simulated conversations were sent


def test_cli_refuses_a_bad_rate_and_a_bad_cases_file(tmp_path):
    bad_rate = CliRunner().invoke(loadtest, ["--url", "http://x", "--rps", "ten"])
    assert bad_rate.exit_code == 2 and "'ten' is not a number" in bad_rate.output
    cases = tmp_path / "cases.jsonl"
    cases.write_text("{}\n")
    bad_cases = CliRunner().invoke(loadtest, ["--url", "http://x", "--rps", "1", "--cases", str(cases)])
    assert bad_cases.exit_code == 2 and "non-empty case_id" in bad_cases.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rps", "inf"], "'inf' must be a positive, finite number"),
        (["--rps", "nan"], "'nan' must be a positive, finite number"),
        (["--rps", "1", "--duration", "nan"], "'--duration': must be a finite number, got nan"),
        (["--rps", "1", "--duration", "inf"], "'--duration': must be a finite number, got inf"),
        (["--rps", "1", "--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
        (["--rps", "1", "--wait-ready", "inf"], "'--wait-ready': must be a finite number"),
        (["--rps", "1", "--pause", "-1"], "'--pause': -1.0 is not in the range x>=0"),
    ],
)
def test_cli_refuses_rates_and_seconds_that_are_not_finite_or_not_positive(args, message):
    result = CliRunner().invoke(loadtest, ["--url", "http://127.0.0.1:1", "--wait-ready", "0", *args])
    assert result.exit_code == 2 and message in result.output


def test_a_client_that_cannot_keep_up_is_flagged_its_rate_is_real_and_the_stage_is_bounded(stand_in):
    url, state = stand_in
    state["delay_s"] = 0.1  # one connection at 0.1 s a request: at most 10 req/s, asked for 40
    began = time.monotonic()
    outcomes = asyncio.run(run_rate(url, 40, 2.0, bodies(), concurrency=1, timeout_s=1.0))
    wall_s = time.monotonic() - began
    # Unbounded, the 80 requests would take 8 s at 10/s; each gives up 1 s after its due time.
    assert wall_s < 2.0 + 1.0 + 1.5
    summary = summarize(outcomes, 40, 2.0)
    assert summary.sent == 80
    assert summary.fell_behind
    assert summary.send_lag_p99_ms is not None and summary.send_lag_p99_ms > CLIENT_LAG_LIMIT_MS
    assert summary.errors.get("timeout", 0) >= summary.not_sent  # those that never left timed out
    # The real rate over the real elapsed time, not answers / the nominal 1.5 s.
    assert summary.elapsed_s == pytest.approx(max(o.done_s for o in outcomes), abs=1e-3)
    assert summary.achieved_rps == pytest.approx(summary.ok / summary.elapsed_s, rel=1e-3)
    assert summary.achieved_rps < 10
    # Latency counts from the due time, so the wait for a connection is in it.
    ok = [o for o in outcomes if o.status == "200"]
    assert all(o.latency_s >= (o.sent_s - o.due_s) + 0.09 for o in ok)
    assert summary.p99_ms > 300
    assert "the client fell behind at 40 req/s" in summary.warning


def test_a_client_on_schedule_is_not_flagged(stand_in):
    url, state = stand_in
    state["delay_s"] = 0.005
    outcomes = asyncio.run(run_rate(url, 20, 1.0, bodies(), concurrency=16, timeout_s=2.0))
    summary = summarize(outcomes, 20, 1.0)
    assert not summary.fell_behind and summary.warning is None and summary.not_sent == 0
    assert summary.send_lag_p99_ms < CLIENT_STALL_LIMIT_MS
    assert 0.95 <= summary.elapsed_s < 1.5  # the last request is due at 0.95 s
    assert summary.achieved_rps == pytest.approx(summary.ok / summary.elapsed_s, rel=1e-3)


def test_cli_warns_when_the_client_fell_behind(stand_in, tmp_path):
    url, state = stand_in
    state["delay_s"] = 0.2
    out = tmp_path / "results.json"
    result = CliRunner().invoke(
        loadtest,
        ["--url", url, "--rps", "20", "--duration", "1", "--concurrency", "1", "--timeout", "1", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "warning: the client fell behind at 20 req/s" in result.stderr
    saved = json.loads(out.read_text())["results"][0]
    assert saved["fell_behind"] is True and saved["warning"].startswith("the client fell behind")
    assert saved["elapsed_s"] > 1.0 and saved["achieved_rps"] < 20
