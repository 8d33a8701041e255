"""Admission by deadline: refuse at once what the model cannot answer in time.

A queue bounded only by its length lets every request in until it is full, so at twice the
model's capacity requests wait out their whole deadline before a 504. Bounding the queue by
the deadline and the measured service rate instead refuses, with a 429 and at once, the
requests that could not be answered in time, and those admitted meet their deadline.
"""

from __future__ import annotations

from collections import deque
from statistics import median


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
# passes this share of the time left before its deadline.
ADMISSION_SHARE = 0.8
RATE_WINDOW_BATCHES = 32  # recent batches the service rate is measured over


class ServiceRate:
    """The model's measured pace over recent batches: a batch's duration and requests per second.

    The expected wait of a newly queued request is the time to drain the queue ahead of it at
    that pace plus one batch (its own): ``queued / requests_per_s + batch_s``. Under overload
    batches are full, so the pace is the model's capacity at full batches; at low load the queue
    is short and the wait is about one batch. Both are medians over the window, so that one
    batch slowed by something else (a stall of the whole process) does not refuse traffic the
    model keeps up with.
    """

    def __init__(self, window: int = RATE_WINDOW_BATCHES):
        self._batches: deque[tuple[int, float]] = deque(maxlen=window)
        self.batch_s = 0.0  # median duration of a batch
        self.requests_per_s = float("inf")  # median of each batch's requests per second

    def record(self, size: int, seconds: float) -> None:
        self._batches.append((size, max(seconds, 1e-6)))
        self.batch_s = median(seconds for _, seconds in self._batches)
        self.requests_per_s = median(size / seconds for size, seconds in self._batches)

    def expected_wait_s(self, queued: int) -> float:
        """Seconds until a request queued behind ``queued`` others has its answer.

        0 before any batch, and 0 with nothing queued: the request is next, and were it refused
        on an old estimate, no batch would ever run to correct it.
        """
        if not self._batches or queued == 0:
            return 0.0
        return queued / self.requests_per_s + self.batch_s
