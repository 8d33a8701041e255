"""The open-loop sender and the `abkit loadtest` command against a small stand-in service."""

import asyncio
import itertools
import json

import pytest
from click.testing import CliRunner
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from abkit.cli.loadtest import loadtest, parse_rates
from abkit.loadtest.runner import run_rate, wait_ready
from abkit.serving.server import background_server, free_port


def stand_in_app(state: dict) -> FastAPI:
    """Answers 200, except every third request 429 and request bodies asking to be slow."""
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
