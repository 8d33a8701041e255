"""The forward passes in a child process (``abkit serve --model-process``), for CPU hosts.

By default a model runs on the service's worker thread: on a GPU the forward pass waits in
CUDA kernels with the GIL released. On a CPU the forward pass is many operators, each of which
must win the GIL back from the web layer after it runs, and a burst of responses on the event
loop makes each of them wait; a child process has an interpreter of its own.
:class:`ProcessScorer` keeps tokenization (and the token cache) in the service and runs
:class:`~abkit.serving.scorer.HFScorer` in a spawned child: the worker thread sends a batch as
token id lists over a :func:`multiprocessing.Pipe` and waits for the top-k results.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from abkit.serving.scorer import MessageEncoder, TopK
from abkit.serving.token_cache import DEFAULT_CACHE_MESSAGES
from abkit.text import Message


class ModelProcessError(RuntimeError):
    """The model process failed to load its model or has exited."""


def _serve(conn: Connection, directory: str, device: str, dtype: str, cpu_threads: int) -> None:
    """In the child: load and warm the model, then score each batch received until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the service stops us after draining
    try:
        import torch

        from abkit.serving.heap import settle_heap
        from abkit.serving.scorer import HFScorer

        if cpu_threads > 0:
            torch.set_num_threads(cpu_threads)
        scorer = HFScorer(directory, device=device, dtype=dtype, token_cache_messages=0)  # the service tokenizes
        scorer.warm_up()
        settle_heap()  # this process only scores: its loaded model is never garbage
    except Exception as error:
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", scorer.parameters, str(scorer.device)))
    while True:
        try:
            sequences = conn.recv()
        except EOFError:  # the service closed its end: stop
            return
        try:
            conn.send(("ok", scorer.score(sequences)))
        except Exception as error:  # the service raises it for this batch's requests
            conn.send(("error", f"{type(error).__name__}: {error}"))


class ProcessScorer:
    """A :class:`~abkit.serving.scorer.Scorer` whose forward passes run in a spawned child process.

    :meth:`score` blocks its caller (the service's one worker thread) until the child answers;
    an error in the forward pass is raised as a ``RuntimeError`` naming it. The constructor
    returns once the child has loaded and warmed the model.

    Raises:
        ModelProcessError: loading failed in the child (the message says why), or it exited.
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
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child_conn, str(directory), device, dtype, cpu_threads), daemon=True
        )
        self._process.start()
        child_conn.close()  # so that the child's exit reads as EOF here
        self._lock = threading.Lock()  # one batch at a time on the pipe
        reply = self._receive()
        if reply[0] != "ready":
            self.close()
            raise ModelProcessError(f"model process for {directory} failed to load: {reply[1]}")
        self.parameters, self.device = reply[1], reply[2]

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def _receive(self) -> tuple:
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._process.join(1.0)
            raise ModelProcessError(f"the model process exited (exit code {self._process.exitcode})") from None

    def encode(self, messages: Sequence[Message]) -> list[int]:
        return self._input.encode(messages)

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        with self._lock:
            try:
                self._conn.send([list(ids) for ids in sequences])
            except OSError:
                raise ModelProcessError("the model process exited") from None
            reply = self._receive()
        if reply[0] == "error":
            raise RuntimeError(reply[1])
        return reply[1]

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the child after its current batch and wait for it."""
        self._conn.close()
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout_s)
