"""Which batch limits serve a model fastest on this machine: timed forward passes, then advice.

A GPU's throughput stops rising with the batch once the device is busy, and on a CPU larger
batches can even cost more per request once they outgrow the caches. So ``--max-batch-size``
and ``--max-batch-tokens`` are best measured, not guessed, as Triton's model analyzer
measures its batch sizes before deployment.

:func:`probe` times batches of doubling size at each input length, in rounds, up to the first
batch too slow to serve or too large for the device; :func:`advise` (pure) picks, for each length, the smallest batch whose throughput is within
``tolerance`` of the best there, since a smaller batch answers its requests sooner at the same
rate, and turns those choices into the two service limits.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.05  # a batch within 5% of the best throughput is as good as the best


@dataclass(frozen=True)
class BatchTiming:
    """Forward passes of one batch shape, ``batch_size`` inputs of ``length`` tokens, over rounds."""

    length: int
    batch_size: int
    round_rates: tuple[float, ...]  # requests per second in each round

    @property
    def requests_per_second(self) -> float:
        # The median over rounds: a round that a busy machine stalls should not move the advice.
        return statistics.median(self.round_rates)

    @property
    def batch_seconds(self) -> float:
        """A typical forward pass of this shape."""
        return self.batch_size / self.requests_per_second


@dataclass(frozen=True)
class LengthChoice:
    """The batch size chosen for one input length, and the best one measured there."""

    length: int
    batch_size: int
    requests_per_second: float
    best_batch_size: int
    best_requests_per_second: float


@dataclass(frozen=True)
class BatchingAdvice:
    """Service limits that let every probed length run at its chosen batch size."""

    max_batch_size: int
    max_batch_tokens: int
    tolerance: float
    choices: tuple[LengthChoice, ...]

    @property
    def flags(self) -> str:
        """The ``abkit serve`` options that apply this advice."""
        return f"--max-batch-size {self.max_batch_size} --max-batch-tokens {self.max_batch_tokens}"


def batch_sizes(max_batch_size: int) -> list[int]:
    """1, 2, 4, ... up to ``max_batch_size``, which is always the last even if not a power of two."""
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
    sizes = [1]
    while sizes[-1] * 2 < max_batch_size:
        sizes.append(sizes[-1] * 2)
    return sizes if sizes[-1] == max_batch_size else [*sizes, max_batch_size]


def advise(timings: Sequence[BatchTiming], tolerance: float = DEFAULT_TOLERANCE) -> BatchingAdvice:
    """The service limits from :func:`probe`'s timings.

    For each length: the smallest batch size with at least ``(1 - tolerance)`` of that length's
    best throughput. The request cap is the largest of those sizes (usually the shortest
    length's), the padded-token budget the largest ``size x length`` among them, so the long
    inputs stop at their own choice while short ones reach theirs; the budget always admits
    one input of the longest probed length.

    Raises:
        ValueError: no timings, or a tolerance outside [0, 1).
    """
    if not timings:
        raise ValueError("no batch timings to advise from")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    choices = []
    for length in sorted({t.length for t in timings}):
        at_length = sorted((t for t in timings if t.length == length), key=lambda t: t.batch_size)
        best = max(at_length, key=lambda t: t.requests_per_second)
        chosen = next(t for t in at_length if t.requests_per_second >= (1 - tolerance) * best.requests_per_second)
        choices.append(
            LengthChoice(
                length, chosen.batch_size, chosen.requests_per_second, best.batch_size, best.requests_per_second
            )
        )
    return BatchingAdvice(
        max_batch_size=max(c.batch_size for c in choices),
        max_batch_tokens=max(max(c.batch_size * c.length for c in choices), max(c.length for c in choices)),
        tolerance=tolerance,
        choices=tuple(choices),
    )


def default_lengths(max_tokens: int) -> list[int]:
    """64, 128, 256, ... below the model's window, then the window itself (512: 64, 128, 256, 512)."""
    lengths = []
    length = 64
    while length < max_tokens:
        lengths.append(length)
        length *= 2
    return [*lengths, max_tokens]


def synthetic_batches(vocabulary: int, pad_token_id: int, seed: int = 0) -> Callable[[int, int], list[list[int]]]:
    """``make_batch(size, length)``: random token ids other than the pad id. A dense model's
    forward pass takes the same time whatever the ids, so no real inputs are needed."""
    ids = [token for token in range(vocabulary) if token != pad_token_id]

    def make_batch(size: int, length: int) -> list[list[int]]:
        rnd = random.Random(f"{seed}-{size}-{length}")
        return [rnd.choices(ids, k=length) for _ in range(size)]

    return make_batch


def rate(
    score: Callable[[list[list[int]]], object],
    batch: list[list[int]],
    seconds: float,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Requests per second of ``score(batch)`` passes back to back for about ``seconds`` (at least one pass).

    ``score`` must wait for the device (``HFScorer.score`` does: it returns host lists).
    """
    passes = 0
    started = clock()
    while passes == 0 or clock() - started < seconds:
        score(batch)
        passes += 1
    return len(batch) * passes / (clock() - started)


def probe(
    score: Callable[[list[list[int]]], object],
    make_batch: Callable[[int, int], list[list[int]]],
    lengths: Sequence[int],
    max_batch_size: int,
    *,
    seconds: float = 1.0,
    rounds: int = 3,
    max_batch_seconds: float = 1.0,
    out_of_memory: tuple[type[BaseException], ...] = (),
    on_skipped: Callable[[int, int, str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[BatchTiming]:
    """Time ``score`` on ``make_batch(size, length)`` for each length and each of :func:`batch_sizes`.

    First every shape runs once untimed (lazy set-up, kernel choice) and once timed; a length
    stops growing at a batch whose pass takes over ``max_batch_seconds`` (its requests would
    wait that long: not a batch to serve) or that raises one of ``out_of_memory`` (the
    device's limit). Each is reported to ``on_skipped(length, size, reason)`` and not timed.
    Then ``rounds`` rounds time every remaining shape for ``seconds / rounds`` each, one
    shape after another, so that a slow spell of a shared machine spreads over all shapes
    instead of spoiling one.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    shapes: list[tuple[int, int, list[list[int]]]] = []
    for length in lengths:
        for size in batch_sizes(max_batch_size):
            batch = make_batch(size, length)
            try:
                score(batch)
                started = clock()
                score(batch)
                elapsed = clock() - started
            except out_of_memory:
                if on_skipped is not None:
                    on_skipped(length, size, "out of device memory")
                break
            if elapsed > max_batch_seconds:
                if on_skipped is not None:
                    on_skipped(length, size, f"one pass took {elapsed:.2f} s, over {max_batch_seconds:g} s")
                break
            shapes.append((length, size, batch))
    rates: list[list[float]] = [[] for _ in shapes]
    for _ in range(rounds):
        for index, (_, _, batch) in enumerate(shapes):
            rates[index].append(rate(score, batch, seconds / rounds, clock))
    return [BatchTiming(length, size, tuple(r)) for (length, size, _), r in zip(shapes, rates, strict=True)]
