"""The dynamic batcher with a fake scorer: batching, caps, length grouping, drops, errors."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from abkit.serving.batcher import (
    BatcherSettings,
    BatcherStopped,
    DeadlinePassed,
    DynamicBatcher,
    QueueFull,
    plan_batch,
)

# -- plan_batch (pure) ----------------------------------------------------------------------


def test_plan_takes_everything_that_fits():
    assert plan_batch([3, 3, 3], max_size=8, max_tokens=100) == [0, 1, 2]


def test_plan_respects_the_request_cap_and_keeps_the_oldest_first():
    assert plan_batch([5, 5, 5, 5], max_size=2, max_tokens=100) == [0, 1]


def test_plan_groups_by_length_around_the_oldest_request():
    # Oldest has 10 tokens; the budget allows 3 x 12 = 36 padded tokens, so the two closest
    # lengths (9 and 12) join it while 100 and 1 wait for a later batch.
    assert plan_batch([10, 100, 9, 1, 12], max_size=8, max_tokens=36) == [0, 2, 4]


def test_plan_counts_padding_against_the_token_budget():
    # [4, 8]: two requests padded to 8 = 16 tokens > 15, so only the oldest goes.
    assert plan_batch([4, 8], max_size=8, max_tokens=15) == [0]


def test_plan_always_runs_the_oldest_even_over_budget():
    assert plan_batch([600, 2], max_size=8, max_tokens=512) == [0]
    assert plan_batch([], max_size=8, max_tokens=512) == []


def test_plan_limits_the_share_of_padding_when_asked():
    # Worked by hand: 10, 10 and 9 pad to 30 tokens with 1 of padding (3%); adding the 40-token
    # request would pad 4 x 40 = 160 tokens holding 69 real ones (57% padding > 25%).
    assert plan_batch([10, 10, 40, 9], max_size=8, max_tokens=1000, max_padding=0.25) == [0, 1, 3]
    assert plan_batch([10, 10, 40, 9], max_size=8, max_tokens=1000) == [0, 1, 3, 2]  # default: no limit
    assert plan_batch([40, 10], max_size=8, max_tokens=1000, max_padding=0.0) == [0]  # the oldest always runs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_batch_tokens": 0}, "max_batch_tokens"),
        ({"max_wait_s": -1}, "max_wait_s"),
        ({"max_queue": 0}, "max_queue"),
        ({"max_padding": 1.5}, "max_padding"),
        ({"max_padding": -0.1}, "max_padding"),
    ],
)
def test_settings_refuse_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatcherSettings(**kwargs)


# -- the asyncio loop ------------------------------------------------------------------------


class GatedScorer:
    """Sums each sequence; blocks until the gate opens, and records batch sizes."""

    def __init__(self, open_gate: bool = True):
        self.gate = threading.Event()
        if open_gate:
            self.gate.set()
        self.batches: list[list[list[int]]] = []

    def __call__(self, sequences):
        assert self.gate.wait(10), "test gate never opened"
        self.batches.append([list(s) for s in sequences])
        return [sum(s) for s in sequences]


def run(coroutine):
    return asyncio.run(coroutine)


def test_results_come_back_in_order_with_timings():
    scorer = GatedScorer()

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor)
            batcher.start()
            results = await asyncio.gather(*(batcher.submit([i, i]) for i in range(5)))
            await batcher.stop()
            return results

    results = run(main())
    assert results == [0, 2, 4, 6, 8]


def test_requests_queued_while_the_worker_is_busy_form_one_batch():
    scorer = GatedScorer(open_gate=False)

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor, BatcherSettings(max_batch_size=4))
            batcher.start()
            first = batcher.submit_nowait([1])
            await asyncio.sleep(0.05)  # the worker now holds [1] and waits on the gate
            rest = [batcher.submit_nowait([2 + i]) for i in range(6)]
            assert batcher.queue_size == 6
            scorer.gate.set()
            await asyncio.gather(first, *rest)
            await batcher.stop()

    run(main())
    assert [len(b) for b in scorer.batches] == [1, 4, 2]


def test_the_padding_limit_splits_queued_requests_by_length():
    scorer = GatedScorer(open_gate=False)

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor, BatcherSettings(max_padding=0.25))
            batcher.start()
            first = batcher.submit_nowait([1])
            await asyncio.sleep(0.05)  # the worker now holds [1] and waits on the gate
            rest = [batcher.submit_nowait(ids) for ids in ([1, 1], [1] * 9, [1, 1], [1] * 8)]
            scorer.gate.set()
            await asyncio.gather(first, *rest)
            await batcher.stop()

    run(main())
    # The oldest queued (2 tokens) goes with the other 2-token request; 9 and 8 tokens wait and go together.
    assert [[len(ids) for ids in batch] for batch in scorer.batches] == [[1], [2, 2], [9, 8]]


def test_queue_full_is_refused_at_submit():
    scorer = GatedScorer(open_gate=False)

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor, BatcherSettings(max_queue=2))
            batcher.start()
            busy = batcher.submit_nowait([1])
            await asyncio.sleep(0.05)
            queued = [batcher.submit_nowait([2]), batcher.submit_nowait([3])]
            with pytest.raises(QueueFull):
                batcher.submit_nowait([4])
            scorer.gate.set()
            await asyncio.gather(busy, *queued)
            # Recovered: the queue drained, so submissions are accepted again.
            assert await batcher.submit([5]) == 5
            await batcher.stop()

    run(main())


def test_cancelled_and_expired_requests_are_dropped_before_the_forward_pass():
    scorer = GatedScorer(open_gate=False)
    dropped = {}

    class Observer:
        def on_batch(self, size, padded_tokens, inference_s, queue_s):
            pass

        def on_dropped(self, reason, count):
            dropped[reason] = dropped.get(reason, 0) + count

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor, observer=Observer())
            batcher.start()
            busy = batcher.submit_nowait([1])
            await asyncio.sleep(0.05)
            gone = batcher.submit_nowait([100])
            expired = batcher.submit_nowait([200], deadline=time.monotonic() + 0.01)
            kept = batcher.submit_nowait([3])
            gone.cancel()
            await asyncio.sleep(0.05)  # past the deadline of `expired`
            scorer.gate.set()
            await busy
            assert await kept == 3
            with pytest.raises(DeadlinePassed):
                await expired
            await batcher.stop()

    run(main())
    assert [s for batch in scorer.batches for s in batch] == [[1], [3]]
    assert dropped == {"client_gone": 1, "deadline": 1}


def test_a_failing_forward_pass_fails_its_requests_not_the_loop():
    calls = []

    def flaky(sequences):
        calls.append(len(sequences))
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        return [0] * len(sequences)

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(flaky, executor)
            batcher.start()
            with pytest.raises(RuntimeError, match="out of memory"):
                await batcher.submit([1])
            assert await batcher.submit([2]) == 0
            await batcher.stop()

    run(main())


def test_stop_finishes_queued_requests_then_refuses_new_ones():
    scorer = GatedScorer(open_gate=False)

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor, BatcherSettings(max_batch_size=1))
            batcher.start()
            futures = [batcher.submit_nowait([i]) for i in range(3)]
            stopping = asyncio.ensure_future(batcher.stop())
            await asyncio.sleep(0.02)
            with pytest.raises(BatcherStopped):
                batcher.submit_nowait([9])
            scorer.gate.set()
            await stopping
            return [f.result() for f in futures]

    assert run(main()) == [0, 1, 2]


def test_max_wait_collects_a_fuller_batch():
    scorer = GatedScorer()

    async def main():
        with ThreadPoolExecutor(1) as executor:
            batcher = DynamicBatcher(scorer, executor, BatcherSettings(max_wait_s=0.2, max_batch_size=3))
            batcher.start()
            first = batcher.submit_nowait([1])
            await asyncio.sleep(0.02)
            second = batcher.submit_nowait([2])
            third = batcher.submit_nowait([3])  # fills the batch: no need to wait out the 200 ms
            await asyncio.gather(first, second, third)
            await batcher.stop()

    run(main())
    assert [len(b) for b in scorer.batches] == [3]
