"""Admission by deadline: refuse at once what the model cannot answer in time.

A queue bounded only by its length lets every request in until it is full, so at twice the
model's capacity requests wait out their whole deadline before a 504. Bounding the queue by
the deadline and the measured service rate instead refuses, with a 429 and at once, the
requests that could not be answered in time, and those admitted meet their deadline.
"""

from __future__ import annotations

from collections import deque


class Overloaded(Exception):
    """The queue ahead would take longer to drain than the request's deadline allows.

    Attributes:
        wait_s: the estimated wait before the request's forward pass would end.
        budget_s: the time left before its deadline.
    """

    def __init__(self, wait_s: float, budget_s: float):
        super().__init__(
            f"the queue ahead would take about {wait_s * 1000:.0f} ms, longer than the "
            f"{max(budget_s, 0.0) * 1000:.0f} ms left before the deadline"
        )
        self.wait_s = wait_s
        self.budget_s = budget_s


# Admission: a request is refused at once when the estimated wait for its forward pass to end
# passes this share of the time left before its deadline (the estimate is a recent average).
ADMISSION_SHARE = 0.8
RATE_WINDOW_BATCHES = 32  # recent batches the service rate is measured over


class ServiceRate:
    """The model's measured pace: requests per second of forward passes over recent batches.

    The expected wait of a newly queued request is the time to drain the queue ahead of it at
    that pace plus one batch (its own): ``queued / rate + batch_s``. Under overload batches are
    full, so the rate is the model's capacity at full batches; at low load the queue is short and
    the wait is about one batch.
    """

    def __init__(self, window: int = RATE_WINDOW_BATCHES):
        self._batches: deque[tuple[int, float]] = deque(maxlen=window)
        self._requests = 0
        self._seconds = 0.0

    def record(self, size: int, seconds: float) -> None:
        if len(self._batches) == self._batches.maxlen:
            old_size, old_seconds = self._batches[0]
            self._requests -= old_size
            self._seconds -= old_seconds
        self._batches.append((size, seconds))
        self._requests += size
        self._seconds += seconds

    @property
    def measured(self) -> bool:
        return bool(self._batches) and self._seconds > 0

    @property
    def requests_per_s(self) -> float:
        return self._requests / self._seconds if self.measured else float("inf")

    @property
    def batch_s(self) -> float:
        return self._seconds / len(self._batches) if self._batches else 0.0

    def expected_wait_s(self, queued: int) -> float:
        """Seconds until a request queued behind ``queued`` others has its answer (0 before any batch)."""
        if not self.measured:
            return 0.0
        return queued / self.requests_per_s + self.batch_s
