"""The forward passes in a child process (``abkit serve --model-process``), through the standard library.

By default a model runs on the service's worker thread: on a GPU the forward pass waits in
CUDA kernels with the GIL released. On a CPU host the forward pass is many small operators,
each of which has to win the GIL back from the web layer's thread, and a busy or
oversubscribed host makes that wait long; a child process has an interpreter of its own.
:class:`ProcessScorer` keeps tokenization (and the token cache) in the service and runs
:class:`~abkit.serving.scorer.HFScorer` in a one-worker ``ProcessPoolExecutor``: a batch goes
as token id lists and comes back as top-k results, pickled by :mod:`concurrent.futures`.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from abkit.serving.scorer import HFScorer, MessageEncoder, TopK
from abkit.serving.token_cache import DEFAULT_CACHE_MESSAGES
from abkit.text import Message

_scorer: HFScorer | None = None  # the child's model


def _load(directory: str, device: str, dtype: str, cpu_threads: int) -> tuple[int, str]:
    """In the child: load and warm the model; returns its parameter count and device."""
    global _scorer
    import torch

    from abkit.serving.heap import settle_heap

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the service stops us after draining
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    _scorer = HFScorer(directory, device=device, dtype=dtype, token_cache_messages=0)  # the service tokenizes
    _scorer.warm_up()
    settle_heap()  # this process only scores: its loaded model is never garbage
    return _scorer.parameters, str(_scorer.device)


def _score(sequences: Sequence[Sequence[int]]) -> list[TopK]:
    assert _scorer is not None, "the model process has not loaded its model"
    return _scorer.score(sequences)


class ProcessScorer:
    """A :class:`~abkit.serving.scorer.Scorer` whose forward passes run in a spawned child process.

    :meth:`score` blocks its caller (the service's worker thread) until the child answers;
    an error in the forward pass is raised here as it was there. The constructor returns once
    the child has loaded and warmed the model.

    Raises:
        Exception: what loading raised in the child (a missing file, CUDA unavailable, ...).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        token_cache_messages: int = DEFAULT_CACHE_MESSAGES,
        cpu_threads: int = 0,
    ):
        self._input = MessageEncoder(directory, token_cache_messages=token_cache_messages)
        self.model_version, self.max_tokens = self._input.model_version, self._input.max_tokens
        self.token_cache = self._input.token_cache
        # spawn, not fork: a forked child would inherit the service's threads' locks and CUDA state.
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        try:
            self.parameters, self.device = self._pool.submit(_load, str(directory), device, dtype, cpu_threads).result()
        except BaseException:
            self._pool.shutdown(cancel_futures=True)
            raise
        self.alive = True

    def encode(self, messages: Sequence[Message]) -> list[int]:
        return self._input.encode(messages)

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        try:
            return self._pool.submit(_score, [list(ids) for ids in sequences]).result()
        except BrokenProcessPool:
            self.alive = False  # /ready reports it, so that the orchestrator restarts the service
            raise

    def close(self) -> None:
        """Stop the child after its current batch."""
        self._pool.shutdown(wait=True, cancel_futures=True)
