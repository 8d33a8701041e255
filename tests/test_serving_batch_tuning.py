"""Batch-limit advice (pure) and the probe, timed on a fake clock so that every figure is exact."""

import pytest

from abkit.tuning.batching import (
    BatchTiming,
    advise,
    batch_sizes,
    default_lengths,
    probe,
    rate,
    synthetic_batches,
)


def timing(length, size, *rates):
    return BatchTiming(length, size, tuple(rates))


class FakeDevice:
    """A model whose pass over ``size`` inputs of ``length`` tokens takes ``cost(size, length)``
    seconds on a fake clock, and which runs out of memory past ``memory_tokens`` padded tokens."""

    def __init__(self, cost, memory_tokens=10**9):
        self.now = 0.0
        self.cost = cost
        self.memory_tokens = memory_tokens
        self.passes = []

    def clock(self):
        return self.now

    def score(self, batch):
        size, length = len(batch), len(batch[0])
        if size * length > self.memory_tokens:
            raise MemoryError(f"{size} x {length}")
        self.passes.append((size, length))
        self.now += self.cost(size, length)


def make_batch(size, length):
    return [[1] * length for _ in range(size)]


def test_batch_sizes_double_up_to_the_cap_which_is_always_tried():
    assert batch_sizes(1) == [1]
    assert batch_sizes(8) == [1, 2, 4, 8]
    assert batch_sizes(12) == [1, 2, 4, 8, 12]
    with pytest.raises(ValueError, match="max_batch_size must be at least 1, got 0"):
        batch_sizes(0)


def test_default_lengths_double_from_64_and_end_at_the_window():
    assert default_lengths(512) == [64, 128, 256, 512]
    assert default_lengths(100) == [64, 100]
    assert default_lengths(64) == [64]
    assert default_lengths(32) == [32]


def test_a_timing_is_its_median_round():
    # One stalled round (10 req/s) among 1,000 and 1,200 does not move the figure.
    slow_round = timing(64, 8, 1000.0, 10.0, 1200.0)
    assert slow_round.requests_per_second == 1000.0
    assert slow_round.batch_seconds == pytest.approx(8 / 1000)


def test_advice_takes_the_smallest_batch_within_tolerance_of_each_lengths_best():
    timings = [
        # 64 tokens: the best is 8 (310 req/s); 4 gives 300, within 5% of it (>= 294.5).
        *(timing(64, s, r) for s, r in [(1, 100.0), (2, 180.0), (4, 300.0), (8, 310.0), (16, 290.0)]),
        # 512 tokens: the best is 2 (52 req/s); 1 gives 50, within 5% (>= 49.4).
        *(timing(512, s, r) for s, r in [(1, 50.0), (2, 52.0), (4, 40.0)]),
    ]
    advice = advise(timings, tolerance=0.05)
    assert [(c.length, c.batch_size, c.best_batch_size) for c in advice.choices] == [(64, 4, 8), (512, 1, 2)]
    assert advice.choices[0].requests_per_second == 300.0
    assert advice.choices[0].best_requests_per_second == 310.0
    # Request cap: the largest choice (4); token budget: the largest size x length, 4 x 64 = 256,
    # raised to 512 so that one input of the longest length fits.
    assert (advice.max_batch_size, advice.max_batch_tokens) == (4, 512)
    assert advice.flags == "--max-batch-size 4 --max-batch-tokens 512"
    # Without tolerance the bests themselves: 8 x 64 = 512 and 2 x 512 = 1,024 tokens.
    exact = advise(timings, tolerance=0.0)
    assert (exact.max_batch_size, exact.max_batch_tokens) == (8, 1024)


def test_advice_refuses_no_timings_and_a_tolerance_outside_zero_to_one():
    with pytest.raises(ValueError, match="no batch timings"):
        advise([])
    with pytest.raises(ValueError, match=r"tolerance must be in \[0, 1\), got 1"):
        advise([timing(64, 1, 10.0)], tolerance=1)
    with pytest.raises(ValueError, match="got -0.1"):
        advise([timing(64, 1, 10.0)], tolerance=-0.1)


def test_rate_counts_passes_on_the_clock_and_runs_at_least_one():
    device = FakeDevice(lambda size, length: 0.004)
    # 4 ms a pass for 0.02 s: 5 passes of 8 requests in 0.02 s = 2,000 req/s.
    assert rate(device.score, make_batch(8, 16), 0.02, device.clock) == pytest.approx(2000.0)
    device.passes.clear()
    assert rate(device.score, make_batch(2, 16), 0.0, device.clock) == pytest.approx(500.0)
    assert len(device.passes) == 1


def test_probe_times_every_shape_in_rounds_and_its_advice_finds_the_cheapest_batch():
    # A CPU-like cost: 1 ms a pass plus 10 us a token up to 1,024 padded tokens a batch, 30 us a
    # token beyond (the caches overflow). At 64 tokens: 1 -> 1.64 ms (610 req/s), 8 -> 6.12 ms
    # (1,307 req/s), 16 -> 11.24 ms (1,423 req/s), 32 -> 41.96 ms (763 req/s).
    def cost(size, length):
        tokens = size * length
        return 0.001 + 1e-5 * min(tokens, 1024) + 3e-5 * max(tokens - 1024, 0)

    device = FakeDevice(cost)
    timings = probe(
        device.score, make_batch, [64, 256], 32, seconds=0.3, rounds=3, clock=device.clock, max_batch_seconds=1.0
    )
    assert [(t.length, t.batch_size) for t in timings] == [(64, s) for s in (1, 2, 4, 8, 16, 32)] + [
        (256, s) for s in (1, 2, 4, 8, 16, 32)
    ]
    assert all(len(t.round_rates) == 3 for t in timings)
    by_shape = {(t.length, t.batch_size): t.requests_per_second for t in timings}
    # Each round runs whole passes for at least 0.1 s: the rate is exact for these passes.
    assert by_shape[(64, 16)] == pytest.approx(16 / cost(16, 64))
    assert by_shape[(64, 32)] == pytest.approx(32 / cost(32, 64))
    advice = advise(timings, tolerance=0.05)
    # 64 tokens: 16 (1,423 req/s) beats 8 (1,307) by more than 5%. 256 tokens: 4 (1,024 tokens,
    # 11.24 ms, 356 req/s) is the best; 2 gives 1 + 5.12 = 6.12 ms, 327 req/s, short of 338.
    assert [(c.length, c.batch_size) for c in advice.choices] == [(64, 16), (256, 4)]
    assert (advice.max_batch_size, advice.max_batch_tokens) == (16, 1024)


def test_probe_stops_growing_a_length_at_a_batch_too_slow_or_out_of_memory():
    skipped = []
    # 10 us a token; 4,096 padded tokens at most.
    device = FakeDevice(lambda size, length: 1e-5 * size * length, memory_tokens=4096)
    timings = probe(
        device.score,
        make_batch,
        [128, 1024],
        64,
        seconds=0.0,
        rounds=1,
        max_batch_seconds=0.025,
        on_skipped=lambda length, size, reason: skipped.append((length, size, reason)),
        out_of_memory=(MemoryError,),
        clock=device.clock,
    )
    # 128 tokens: 1..16 pass within 25 ms (16 x 128 tokens: 20.48 ms), 32 takes 40.96 ms; 1,024
    # tokens: 1 and 2 pass (20.48 ms), 4 takes 40.96 ms; 8 would have run out of memory, never tried.
    assert [(t.length, t.batch_size) for t in timings] == [(128, s) for s in (1, 2, 4, 8, 16)] + [
        (1024, 1),
        (1024, 2),
    ]
    assert [(length, size) for length, size, _ in skipped] == [(128, 32), (1024, 4)]
    assert skipped[0][2] == "one pass took 0.04 s, over 0.025 s"
    assert not any(size >= 64 for size, _ in device.passes)
    assert (8, 1024) not in device.passes

    memory_skips = []
    small_memory = FakeDevice(lambda size, length: 1e-5, memory_tokens=256)
    timings = probe(
        small_memory.score,
        make_batch,
        [64, 512],
        8,
        seconds=0.0,
        rounds=1,
        on_skipped=lambda length, size, reason: memory_skips.append((length, size, reason)),
        out_of_memory=(MemoryError,),
        clock=small_memory.clock,
    )
    assert [(t.length, t.batch_size) for t in timings] == [(64, 1), (64, 2), (64, 4)]
    assert memory_skips == [(64, 8, "out of device memory"), (512, 1, "out of device memory")]


def test_probe_lets_other_errors_through_and_refuses_no_rounds():
    def broken(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        probe(broken, make_batch, [16], 4, out_of_memory=(MemoryError,))
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        probe(broken, make_batch, [16], 4, rounds=0)


def test_synthetic_batches_avoid_the_pad_id_and_repeat_for_a_seed():
    make = synthetic_batches(vocabulary=5, pad_token_id=0, seed=3)
    batch = make(4, 50)
    assert len(batch) == 4 and all(len(row) == 50 for row in batch)
    assert {token for row in batch for token in row} <= {1, 2, 3, 4}
    assert make(4, 50) == batch
    assert synthetic_batches(5, 0, seed=4)(4, 50) != batch
