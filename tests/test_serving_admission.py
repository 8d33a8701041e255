"""Admission by deadline: the measured pace and the refusals it makes (pure, no model)."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from abkit.serving.batcher import BatcherSettings, DynamicBatcher, Overloaded, ServiceRate


def test_expected_wait_is_the_queue_at_the_measured_pace_plus_one_batch():
    rate = ServiceRate()
    assert rate.expected_wait_s(100) == 0.0  # nothing measured yet: admit
    for _ in range(10):
        rate.record(4, 0.2)  # 20 requests a second, 0.2 s a batch
    assert rate.expected_wait_s(1) == pytest.approx(1 / 20 + 0.2)
    assert rate.expected_wait_s(10) == pytest.approx(10 / 20 + 0.2)


def test_a_request_with_nothing_queued_ahead_is_always_admitted():
    rate = ServiceRate()
    rate.record(1, 30.0)  # an old, slow batch: refusing on it would leave nothing to correct it
    assert rate.expected_wait_s(0) == 0.0


def test_one_stalled_batch_does_not_move_the_estimate():
    rate = ServiceRate(window=9)
    for _ in range(8):
        rate.record(2, 0.01)
    rate.record(2, 3.0)  # the whole process stalled once
    assert rate.batch_s == pytest.approx(0.01)
    assert rate.expected_wait_s(4) == pytest.approx(4 / 200 + 0.01)


def test_old_batches_leave_the_window():
    rate = ServiceRate(window=4)
    for _ in range(4):
        rate.record(1, 1.0)
    for _ in range(4):
        rate.record(8, 0.1)
    assert (rate.batch_s, rate.requests_per_s) == (pytest.approx(0.1), pytest.approx(80))


def test_the_batcher_refuses_what_its_queue_cannot_answer_in_time():
    def slow(sequences):
        time.sleep(0.05)
        return [len(s) for s in sequences]

    async def scenario():
        batcher = DynamicBatcher(slow, ThreadPoolExecutor(1), BatcherSettings(max_batch_size=1))
        batcher.start()
        for i in range(3):  # measure the pace: 0.05 s a request
            await batcher.submit([i])
        held = [batcher.submit_nowait([i], deadline=time.monotonic() + 10) for i in range(20)]
        with pytest.raises(Overloaded, match=r"the queue ahead would take about \d+ ms, longer than the 500 ms"):
            batcher.submit_nowait([99], deadline=time.monotonic() + 0.5)
        admitted = batcher.submit_nowait([7], deadline=time.monotonic() + 10)  # a longer deadline fits
        await asyncio.gather(*held, admitted)
        await batcher.stop()

    asyncio.run(scenario())
