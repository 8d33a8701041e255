"""The model in a child process, so that its forward passes and the web layer never share a GIL.

In one process the event loop (HTTP parsing, validation, tokenization, event building) and
the model thread take turns on the interpreter lock: every PyTorch op the model thread
dispatches gives the lock up and has to win it back from the event loop, and the loop in
turn waits for the model thread's Python code. :class:`ProcessScorer` keeps tokenization in
the serving process and runs :class:`~abkit.serving.scorer.HFScorer` in a spawned child; a
batch crosses a pipe as token id lists one way and top-k results the other (a few kilobytes).
The pipe hop costs a little per batch. A second batch may be sent while one runs
(:attr:`ProcessScorer.concurrent_batches`), so that under load the child goes from one batch
to the next without waiting for the service to collect the results and form the next batch.
``abkit serve`` runs each model this way unless told ``--in-process`` (docs/serving.md)."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from abkit.serving.heap import settle_heap
from abkit.serving.scorer import HFScorer, MessageEncoder, TopK
from abkit.serving.token_cache import DEFAULT_CACHE_MESSAGES
from abkit.text import Message


class ModelProcessError(RuntimeError):
    """The model process failed to start or exited."""


def cpu_threads_per_model(requested: int, models: int, cpu_count: int | None, *, side_by_side: bool) -> int:
    """Torch threads for each model process on a CPU (0: torch's default, all cores).

    Model processes that run their batches side by side would each start one thread per core
    by default, twice the cores for two models, and slow each other down; they get an equal
    share of the cores instead. A number asked for is kept as it is.
    """
    if requested > 0 or models < 2 or not side_by_side or not cpu_count:
        return requested
    return max(1, cpu_count // models)


def _serve_model(conn: Connection, directory: str, device: str, dtype: str, cpu_threads: int) -> None:
    """Child process: load and warm the model, then answer ``score`` calls until told to stop."""
    # Ctrl-C reaches the whole process group; the parent drains its queue first and then closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if cpu_threads > 0:
            import torch

            torch.set_num_threads(cpu_threads)
        scorer = HFScorer(directory, device=device, dtype=dtype, token_cache_messages=0)  # the parent tokenizes
        scorer.warm_up()
        settle_heap()  # this process only scores: its loaded model is never garbage
    except BaseException as error:  # reported to the parent, which raises it
        conn.send(("error", f"{type(error).__name__}: {error}"))
        return
    conn.send(("ready", {"parameters": scorer.parameters, "device": str(scorer.device)}))
    while True:
        try:
            sequences = conn.recv()
        except EOFError:  # the parent went away
            return
        if sequences is None:
            return
        try:
            conn.send(("ok", scorer.score(sequences)))
        except Exception as error:
            try:
                conn.send(("error", error))  # the same exception type in the parent when it pickles
            except Exception:
                conn.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))


class ProcessScorer:
    """A :class:`~abkit.serving.scorer.Scorer` whose forward passes run in a child process.

    Same inputs and results as :class:`~abkit.serving.scorer.HFScorer` (which the child runs);
    :meth:`encode` runs here, with the same tokenizer. The constructor returns once the child
    has loaded and warmed the model.

    Args:
        directory: a serving directory.
        device: as for :class:`~abkit.serving.scorer.HFScorer`.
        dtype: as for :class:`~abkit.serving.scorer.HFScorer`.
        cpu_threads: torch intra-op threads in the child (0: torch's default).
        start_timeout_s: how long loading may take.
        token_cache_messages: as for :class:`~abkit.serving.scorer.MessageEncoder` (the cache is here,
            where the tokenizing happens).

    Raises:
        ModelProcessError: the child failed to load the model or did not answer in time.
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        cpu_threads: int = 0,
        start_timeout_s: float = 600.0,
        token_cache_messages: int = DEFAULT_CACHE_MESSAGES,
    ):
        self._input = MessageEncoder(directory, token_cache_messages=token_cache_messages)
        self.token_cache = self._input.token_cache
        self.model_version = self._input.model_version
        self.max_tokens = self._input.max_tokens
        self.tokenizer = self._input.tokenizer
        # spawn, not fork: a forked child would inherit the parent's threads' locks and CUDA state.
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(
            target=_serve_model,
            args=(child_conn, str(directory), device, dtype, cpu_threads),
            name=f"abkit-model-{self.model_version}",
            daemon=True,  # never outlives the service
        )
        self._process.start()
        child_conn.close()  # so that the child's exit reads as EOF here
        # Batches may be sent while one runs (the child takes them in order, so a queued batch
        # starts the moment the last ends); replies come back in the same order, so each caller
        # receives the reply whose turn matches the order of its send.
        self.concurrent_batches = 2
        self._send_lock = threading.Lock()
        self._turns = threading.Condition()
        self._sent = 0
        self._received = 0
        if not self._conn.poll(start_timeout_s):
            self.close()
            raise ModelProcessError(f"model process for {directory} did not load within {start_timeout_s:g} s")
        status, value = self._receive()
        if status != "ready":
            self.close()
            raise ModelProcessError(f"model process for {directory} failed to load: {value}")
        self.parameters: int = value["parameters"]
        self.device: str = value["device"]

    def _receive(self) -> tuple[str, Any]:
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._process.join(1.0)
            raise ModelProcessError(f"the model process exited (exit code {self._process.exitcode})") from None

    def encode(self, messages: Sequence[Message]) -> list[int]:
        return self._input.encode(messages)

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        """Top-k templates of each sequence, computed in the child.

        Raises:
            ModelProcessError: the child has exited.
            Exception: what the forward pass raised in the child.
        """
        payload = [list(ids) for ids in sequences]
        with self._send_lock:
            try:
                self._conn.send(payload)
            except (BrokenPipeError, OSError):
                raise ModelProcessError(f"the model process exited (exit code {self._process.exitcode})") from None
            turn = self._sent
            self._sent += 1
        with self._turns:
            self._turns.wait_for(lambda: self._received == turn)
            try:
                status, value = self._receive()
            finally:  # the next caller's turn, even if the child is gone (it then reads the EOF itself)
                self._received += 1
                self._turns.notify_all()
        if status == "error":
            raise value if isinstance(value, BaseException) else RuntimeError(str(value))
        return value

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the child (after its current batch) and wait for it."""
        if self._process.is_alive():
            with contextlib.suppress(BrokenPipeError, OSError):  # already gone
                self._conn.send(None)
            self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout_s)
        self._conn.close()

    @property
    def alive(self) -> bool:
        """Whether the child process is running."""
        return self._process.is_alive()
