"""abkit.simulate.live_http: what the live driver retries, how long it waits, and when it gives up.

The service is an httpx.MockTransport answering from a script, so every case is exact: which
statuses are retried (429/503/504 and transport errors, module docstring), how many times
(max_retries), and the waits asked for (Retry-After, else 0.1 s doubling, capped at 5 s).
"""

from __future__ import annotations

import asyncio

import pytest

# The live driver needs the serve extra; the core's lowest-versions run (make test-lowest) has no httpx.
httpx = pytest.importorskip("httpx")

from tenacity import RetryCallState  # noqa: E402

from abkit.simulate import live_http  # noqa: E402
from abkit.simulate.live_http import LiveError, post_json, wait_ready  # noqa: E402


def _scripted(answers):
    """A client whose successive requests get ``answers`` in turn (an int status, a Response, or an exception)."""
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        answer = answers[min(len(sent), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(answer, json={"ok": answer} if answer < 300 else {"detail": f"said {answer}"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://service"), sent


def _post(client, max_retries):
    retries = []

    async def go():
        async with client:
            return await post_json(client, "/v1/x", {}, max_retries=max_retries, on_retry=lambda: retries.append(1))

    return asyncio.run(go()), len(retries)


@pytest.fixture
def no_sleep(monkeypatch):
    """Record the waits tenacity asks for instead of sleeping them."""
    waits = []

    async def record(seconds):
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", record)
    return waits


def test_overload_answers_are_retried_until_the_service_takes_the_request(no_sleep):
    busy = httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "busy"})
    client, sent = _scripted([busy, 503, 504, 200])
    answer, retries = _post(client, max_retries=3)
    assert answer == {"ok": 200} and retries == 3 and len(sent) == 4
    assert no_sleep == [2.0, 0.2, 0.4]  # Retry-After, then the backoff of retries 2 and 3


def test_a_status_no_retry_fixes_fails_at_once_naming_it(no_sleep):
    client, sent = _scripted([400, 200])
    with pytest.raises(LiveError, match="POST /v1/x: 400: said 400"):
        _post(client, max_retries=5)
    assert len(sent) == 1 and no_sleep == []


def test_retries_run_out_naming_the_last_status(no_sleep):
    client, sent = _scripted([503])
    with pytest.raises(LiveError, match="POST /v1/x: 503: said 503"):
        _post(client, max_retries=2)
    assert len(sent) == 3


def test_transport_errors_are_retried_then_named(no_sleep):
    client, sent = _scripted([httpx.ConnectError("refused"), 200])
    assert _post(client, max_retries=1) == ({"ok": 200}, 1)
    client, sent = _scripted([httpx.ConnectError("refused")])
    with pytest.raises(LiveError, match="POST /v1/x: ConnectError: refused"):
        _post(client, max_retries=0)
    assert len(sent) == 1


def test_the_backoff_doubles_from_a_tenth_of_a_second_and_stops_at_five():
    def wait_after(attempt, retry_after=None):
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        headers = {"Retry-After": retry_after} if retry_after else {}
        state.set_result(httpx.Response(503, headers=headers))
        return live_http._retry_after_or_backoff(state)

    assert [wait_after(n) for n in (1, 2, 3, 6, 7, 12)] == pytest.approx([0.1, 0.2, 0.4, 3.2, 5.0, 5.0])
    assert wait_after(1, "60") == 5.0  # a long Retry-After is capped too
    assert wait_after(3, "Wed, 21 Oct 2026 07:28:00 GMT") == pytest.approx(0.4)  # a date: the backoff


def test_wait_ready_polls_until_ready_and_names_the_last_answer(no_sleep):
    client, sent = _scripted([503, 503, 200])
    asyncio.run(wait_ready(client, 60))
    assert len(sent) == 3 and no_sleep == [0.25, 0.25]
    client, _ = _scripted([503])
    with pytest.raises(LiveError, match=r"service not ready after 0 s \(503 "):
        asyncio.run(wait_ready(client, 0))
