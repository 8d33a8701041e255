"""The live driver's HTTP side: a POST retried with backoff while the service is overloaded,
and the wait for ``GET /ready``. Retries and polling are tenacity's.

What is retried: an answer 429 (queue full), 503 (not ready, buffer full) or 504 (deadline
passed), for which the service logged nothing, and a request lost in transport. The wait is
the answer's ``Retry-After`` when it gives one, else 0.1 s doubling per retry; either is capped
at 5 s, so 10 retries ride out about 25 s of overload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

# Queue full, not ready or buffer full, deadline passed: nothing was logged, so a retry is safe.
RETRY_STATUSES = frozenset({429, 503, 504})
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.1, 5.0
READY_POLL_S = 0.25

_backoff = wait_exponential(multiplier=FIRST_BACKOFF_S, exp_base=2, max=MAX_BACKOFF_S)


class LiveError(RuntimeError):
    """The service refused a request in a way a retry cannot fix, or never became ready."""


def _retry_after_or_backoff(state: RetryCallState) -> float:
    """The answer's Retry-After (seconds) when it has one, else the exponential backoff; at most 5 s."""
    outcome = state.outcome
    if outcome is not None and not outcome.failed:
        header = outcome.result().headers.get("Retry-After")
        try:
            return min(float(header), MAX_BACKOFF_S) if header else _backoff(state)
        except ValueError:  # an HTTP date: not sent by abkit serve
            pass
    return _backoff(state)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)  # looked up when called, so a test can replace it


def _last_outcome(state: RetryCallState) -> httpx.Response:
    """What the last attempt gave when retries ran out: its answer, or its transport error raised."""
    assert state.outcome is not None
    return state.outcome.result()


async def post_json(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], *, max_retries: int, on_retry: Callable[[], None]
) -> dict[str, Any]:
    """POST ``body`` as JSON and return the answer's JSON, retrying as the module says.

    Args:
        max_retries: retries after the first attempt (0: none).
        on_retry: called before each retry (the driver counts them).

    Raises:
        LiveError: a status that no retry fixes (4xx other than 429, 5xx other than 503/504),
            or retries ran out, naming the last status or transport error.
    """
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(httpx.TransportError)
        | retry_if_result(lambda response: response.status_code in RETRY_STATUSES),
        stop=stop_after_attempt(max_retries + 1),
        wait=_retry_after_or_backoff,
        sleep=_sleep,
        before_sleep=lambda _state: on_retry(),
        retry_error_callback=_last_outcome,
    )
    try:
        # The request may have reached the service before a transport error: a retried
        # suggest can then log twice (selections and cases carry ids, and are stored once).
        response: httpx.Response = await retrying(client.post, path, json=body)
    except httpx.TransportError as error:
        raise LiveError(f"POST {path}: {type(error).__name__}: {error}") from None
    if response.status_code >= 300:
        raise LiveError(f"POST {path}: {response.status_code}: {_detail(response)}")
    return response.json()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


def _describe(state: RetryCallState) -> str:
    """The last answer or error of a poll, in words."""
    assert state.outcome is not None
    if state.outcome.failed:
        error = state.outcome.exception()
        return f"{type(error).__name__}: {error}"
    response = state.outcome.result()
    return f"{response.status_code} {response.text[:200]}"


async def wait_ready(client: httpx.AsyncClient, timeout_s: float) -> None:
    """Poll ``GET /ready`` every 0.25 s until it answers 200.

    Raises:
        LiveError: not ready within ``timeout_s`` (the last answer or error is named).
    """

    def gave_up(state: RetryCallState) -> None:
        raise LiveError(f"service not ready after {timeout_s:g} s ({_describe(state)})")

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(httpx.TransportError) | retry_if_result(lambda r: r.status_code != 200),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(READY_POLL_S),
        sleep=_sleep,
        retry_error_callback=gave_up,
    )
    await retrying(client.get, "/ready")
