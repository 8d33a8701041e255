"""Dynamic batching: an asyncio queue feeding one model worker thread, with admission by deadline.

Independent of the web layer. Admission: a queue bounded only by its length lets requests in
that then wait out their whole deadline before a 504. Bounded by the deadline and the measured
service rate, it refuses at once (429) what could not be answered in time, and those admitted
meet their deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import suppress
from dataclasses import dataclass
from statistics import median
from typing import Annotated, Generic, Protocol, TypeVar

from pydantic import Field

from abkit.settings import settings

R = TypeVar("R")
# A request is refused at once when the estimated wait for its forward pass to end passes this
# share of the time left before its deadline.
ADMISSION_SHARE = 0.8
RATE_WINDOW_BATCHES = 32  # recent batches the service rate is measured over


@settings
class BatcherSettings:
    """How batches are formed."""

    max_batch_size: Annotated[int, Field(ge=1)] = 32  # requests per forward pass
    max_batch_tokens: Annotated[int, Field(ge=1)] = 16_384  # padded tokens per forward pass (size x longest)
    # Extra wait for a fuller batch; 0 takes what is queued when the worker frees.
    max_wait_s: Annotated[float, Field(ge=0)] = 0.0
    max_queue: Annotated[int, Field(ge=1)] = 256  # queued requests beyond which submit() refuses (HTTP 429)
    # Largest share of a batch's padded tokens that may be padding (1.0: no limit). Below 1, a
    # request far from the others in length waits for a later batch instead of padding this one:
    # on a CPU a forward pass costs about its padded tokens, so tighter batches do more per second.
    max_padding: Annotated[float, Field(ge=0, le=1)] = 1.0


class QueueFull(Exception):
    """The queue holds ``max_queue`` requests already; try again later."""


class Overloaded(Exception):
    """The queue ahead would take longer to drain (``wait_s``) than the deadline allows (``budget_s``)."""

    def __init__(self, wait_s: float, budget_s: float):
        super().__init__(
            f"the queue ahead would take about {wait_s * 1000:.0f} ms, longer than the "
            f"{max(budget_s, 0.0) * 1000:.0f} ms left before the deadline"
        )
        self.wait_s = wait_s
        self.budget_s = budget_s


class DeadlinePassed(Exception):
    """The request's deadline passed before its answer."""


class BatcherStopped(Exception):
    """The batcher is shutting down and takes no new requests."""


class ServiceRate:
    """The model's pace: medians over recent batches of a batch's duration and of its requests per second.

    Medians, so that one batch slowed by a stall of the whole process refuses no traffic.
    """

    def __init__(self, window: int = RATE_WINDOW_BATCHES):
        self._batches: deque[tuple[int, float]] = deque(maxlen=window)
        self.batch_s = 0.0
        self.requests_per_s = float("inf")

    def record(self, size: int, seconds: float) -> None:
        self._batches.append((size, max(seconds, 1e-6)))
        self.batch_s = median(seconds for _, seconds in self._batches)
        self.requests_per_s = median(size / seconds for size, seconds in self._batches)

    def expected_wait_s(self, queued: int) -> float:
        """The queue ahead at the measured pace plus one batch (its own).

        0 before any batch, and with nothing queued: refused on an old estimate, no batch would correct it.
        """
        if not self._batches or queued == 0:
            return 0.0
        return queued / self.requests_per_s + self.batch_s


class BatchObserver(Protocol):
    """Receives one call per forward pass (metrics live outside the batcher)."""

    def on_batch(self, size: int, padded_tokens: int, inference_s: float, queue_s: Sequence[float]) -> None: ...

    def on_dropped(self, reason: str, count: int) -> None: ...


def plan_batch(lengths: Sequence[int], max_size: int, max_tokens: int, max_padding: float = 1.0) -> list[int]:
    """Indices into ``lengths`` of the next batch, the oldest (index 0) first (pure).

    The oldest request always goes first, even if it alone exceeds the budget; the others are
    taken by closeness of length to it (ties by age) while the batch stays within ``max_size``
    requests and ``max_tokens`` padded tokens, and padding within ``max_padding`` of them.
    """
    if not lengths:
        return []
    anchor = longest = real = lengths[0]
    chosen = [0]
    for index in sorted(range(1, len(lengths)), key=lambda i: (abs(lengths[i] - anchor), i)):
        if len(chosen) >= max_size:
            break
        candidate_longest = max(longest, lengths[index])
        padded = candidate_longest * (len(chosen) + 1)
        if padded <= max_tokens and padded - (real + lengths[index]) <= max_padding * padded:
            chosen.append(index)
            longest = candidate_longest
            real += lengths[index]
    return chosen


@dataclass
class _Pending:
    token_ids: Sequence[int]
    future: asyncio.Future
    enqueued: float


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(DeadlinePassed("deadline passed"))


class DynamicBatcher(Generic[R]):
    """Batches token id sequences for ``score_fn`` (one result per sequence, in order), run on ``executor``.

    A single-thread ``executor`` is the model worker; several batchers may share it so that
    models on one device take turns. ``observer`` is an optional metrics sink.
    """

    def __init__(
        self,
        score_fn: Callable[[Sequence[Sequence[int]]], list[R]],
        executor: Executor,
        settings: BatcherSettings | None = None,
        observer: BatchObserver | None = None,
    ):
        self.score_fn = score_fn
        self.executor = executor
        self.settings = settings or BatcherSettings()
        self.observer = observer
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()  # set by submit_nowait and stop
        self._task: asyncio.Task | None = None
        self.rate = ServiceRate()
        self._stopping = False

    @property
    def queue_size(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        if self._task is None:
            self._wakeup = asyncio.Event()  # a fresh one for this event loop
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="abkit-batcher")

    async def stop(self) -> None:
        """Refuse new requests, finish the queued ones, then stop the loop."""
        self._stopping = True
        if self._task is None:
            return
        self._wakeup.set()
        await self._task
        self._task = None

    def submit_nowait(self, token_ids: Sequence[int], deadline: float | None = None) -> asyncio.Future:
        """Queue one sequence; the future resolves to its result.

        Cancel the future when the caller goes away: the request is dropped before its forward
        pass. At ``deadline`` (``time.monotonic()``) it fails with :class:`DeadlinePassed`, queued
        or in its forward pass (an expired request is dropped before it).
        Raises :class:`QueueFull`, :class:`Overloaded` (:meth:`check_admission`) or :class:`BatcherStopped`.
        """
        if self._task is None or self._stopping:
            raise BatcherStopped("the model worker is not running")
        if len(self._pending) >= self.settings.max_queue:
            raise QueueFull(f"{len(self._pending)} requests already queued")
        now, loop = time.monotonic(), asyncio.get_running_loop()
        future = loop.create_future()
        if deadline is not None:
            self.check_admission(deadline - now)
            # A timer on the loop rather than asyncio.wait_for: no extra future and task per request.
            loop.call_later(deadline - now, _expire, future)
        self._pending.append(_Pending(token_ids, future, now))
        self._wakeup.set()
        return future

    def check_admission(self, budget_s: float) -> None:
        """Raise :class:`Overloaded` when the expected wait passes :data:`ADMISSION_SHARE` of ``budget_s``."""
        wait_s = self.rate.expected_wait_s(len(self._pending))
        if wait_s > ADMISSION_SHARE * budget_s:
            raise Overloaded(wait_s, budget_s)

    async def submit(self, token_ids: Sequence[int], deadline: float | None = None) -> R:
        """Queue one sequence and wait for its result (see :meth:`submit_nowait`)."""
        return await self.submit_nowait(token_ids, deadline)

    def _drop_stale(self) -> None:
        # Done before its forward pass: cancelled by a caller that went away, or failed by its deadline timer.
        stale = [item.future for item in self._pending if item.future.done()]
        self._pending = [item for item in self._pending if not item.future.done()]
        gone = sum(future.cancelled() for future in stale)
        for reason, count in (("client_gone", gone), ("deadline", len(stale) - gone)):
            if count and self.observer is not None:
                self.observer.on_dropped(reason, count)

    async def _run(self) -> None:
        settings = self.settings
        while True:
            if not self._pending:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if settings.max_wait_s > 0:  # wait for a fuller batch, up to max_wait_s after the oldest arrived
                waited_s = time.monotonic() - self._pending[0].enqueued
                with suppress(TimeoutError):
                    async with asyncio.timeout(max(settings.max_wait_s - waited_s, 0.0)):
                        while len(self._pending) < settings.max_batch_size and not self._stopping:
                            self._wakeup.clear()
                            await self._wakeup.wait()
            self._drop_stale()
            if not self._pending:
                continue
            chosen = plan_batch(
                [len(item.token_ids) for item in self._pending],
                settings.max_batch_size,
                settings.max_batch_tokens,
                settings.max_padding,
            )
            batch, taken = [self._pending[i] for i in chosen], set(chosen)
            self._pending = [item for i, item in enumerate(self._pending) if i not in taken]
            await self._score(batch)

    async def _score(self, batch: list[_Pending]) -> None:
        started = time.monotonic()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.score_fn, [item.token_ids for item in batch]
            )
            if len(results) != len(batch):
                raise RuntimeError(f"scorer returned {len(results)} results for {len(batch)} inputs")
        except Exception as error:  # a failed forward pass fails its requests, not the loop
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        inference_s = time.monotonic() - started
        self.rate.record(len(batch), inference_s)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
        if self.observer is not None:
            padded = max(len(item.token_ids) for item in batch) * len(batch)
            self.observer.on_batch(len(batch), padded, inference_s, [started - item.enqueued for item in batch])
