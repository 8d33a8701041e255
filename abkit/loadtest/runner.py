"""The open-loop sender: requests are due at fixed times whatever the server does.

A closed-loop client (send, wait, send) slows down with the server and hides its latency
(coordinated omission); here request ``i`` is due at ``start + i / rps`` and its latency
counts from that moment, so time spent waiting for a free connection (``--concurrency``) or
for the client itself is part of it. Each outcome also records when the request actually
left, so the summary can say when the client fell behind its schedule, and when it was
answered, so the achieved rate is over the real elapsed time. A request that has not been
answered ``timeout_s`` after it was due counts as ``timeout`` whether or not it left, which
bounds a stage to about its duration plus the timeout however far behind the client falls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, stop_after_delay, wait_fixed

from abkit.loadtest.stats import Outcome

SUGGEST_PATH = "/v1/suggest"


async def _one(
    client: httpx.AsyncClient,
    slots: asyncio.Semaphore,
    body: dict[str, Any],
    due: float,
    start: float,
    timeout_s: float,
) -> Outcome:
    sent: float | None = None

    async def send() -> str:
        nonlocal sent
        async with slots:  # a free connection (--concurrency)
            sent = time.perf_counter()
            response = await client.post(SUGGEST_PATH, json=body)
            return str(response.status_code)

    try:
        # Measured from the due time: waiting for a slot counts against the timeout too.
        status = await asyncio.wait_for(send(), max(due + timeout_s - time.perf_counter(), 0.0))
    except (TimeoutError, httpx.TimeoutException):
        status = "timeout"
    except httpx.TransportError:
        status = "connection_error"
    done = time.perf_counter()
    return Outcome(
        due_s=due - start,
        latency_s=done - due,
        status=status,
        sent_s=None if sent is None else sent - start,
        done_s=done - start,
    )


async def run_rate(
    url: str,
    rps: float,
    duration_s: float,
    bodies: Iterator[dict[str, Any]],
    *,
    concurrency: int = 256,
    timeout_s: float = 10.0,
    headers: dict[str, str] | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Send ``rps * duration_s`` suggest requests (one conversation each) at a fixed rate.

    Args:
        url: the service's base URL.
        rps: requests per second.
        duration_s: how long to send for.
        bodies: request bodies, one taken per request.
        concurrency: most requests in flight; more wait for a connection (and that wait counts).
        timeout_s: per request, from its due time, after which it counts as ``timeout``.
        headers: e.g. the bearer token.
        on_done: called with each outcome (progress bar).

    Raises:
        ValueError: a non-positive rate, duration or concurrency.
    """
    if rps <= 0 or duration_s <= 0 or concurrency < 1:
        raise ValueError(f"rps, duration and concurrency must be positive (got {rps}, {duration_s}, {concurrency})")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout_s, headers=headers) as client:
        total = int(round(rps * duration_s))
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(total):
            due = start + i / rps
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(_one(client, slots, next(bodies), due, start, timeout_s))
            if on_done is not None:
                task.add_done_callback(lambda t: on_done(t.result()))
            tasks.append(task)
        return list(await asyncio.gather(*tasks))


def wait_ready(url: str, timeout_s: float, headers: dict[str, str] | None = None) -> None:
    """Poll ``GET /ready`` every 0.25 s until it answers 200.

    Raises:
        TimeoutError: not ready within ``timeout_s``, with the last answer or error.
    """

    def gave_up(state: RetryCallState) -> None:
        assert state.outcome is not None
        if state.outcome.failed:
            error = state.outcome.exception()
            last = f"{type(error).__name__}: {error}"
        else:
            response = state.outcome.result()
            last = f"{response.status_code} {response.text[:200]}"
        raise TimeoutError(f"{url} not ready after {timeout_s:g} s (last: {last})")

    with httpx.Client(base_url=url, timeout=5, headers=headers) as client:
        Retrying(
            retry=retry_if_exception_type(httpx.TransportError) | retry_if_result(lambda r: r.status_code != 200),
            stop=stop_after_delay(timeout_s),
            wait=wait_fixed(0.25),
            retry_error_callback=gave_up,
        )(client.get, "/ready")
