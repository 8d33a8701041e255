"""The model in a child process, so that its forward passes and the web layer never share a GIL.

In one process the event loop (HTTP parsing, validation, tokenization, event building) and
the model thread take turns on the interpreter lock: every PyTorch op the model thread
dispatches gives the lock up and has to win it back from the event loop, and the loop in
turn waits for the model thread's Python code. :class:`ProcessScorer` keeps tokenization in
the serving process and runs :class:`~abkit.serving.scorer.HFScorer` in a spawned child; a
batch crosses a socket pair as token id lists one way and top-k results the other (a few
kilobytes). The service writes batches from its event loop and the child's reply wakes the
loop directly, so no thread stands between them (:meth:`ProcessScorer.score_async`). A second
batch may be sent while one runs (:attr:`ProcessScorer.concurrent_batches`), so that under
load the child goes from one batch to the next without waiting for the service to collect
the results and form the next batch. ``abkit serve`` runs each model this way unless told
``--in-process`` (docs/serving.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from abkit.serving.allocator import AllocatorSettings, keep_freed_memory, release_free_memory
from abkit.serving.frames import FrameReader, encode_frame, recv_frame, send_frame
from abkit.serving.heap import settle_heap
from abkit.serving.scorer import ForwardTime, HFScorer, MessageEncoder, TopK
from abkit.serving.token_cache import DEFAULT_CACHE_MESSAGES
from abkit.text import Message

log = logging.getLogger(__name__)


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


DEFAULT_SPIN_MS = 5.0  # covers the service's turnaround between batches at low load (about 2 ms at 512 tokens)


def spin_ms_per_model(requested: float | None, models: int, cpu_count: int | None) -> float:
    """How long each model process polls for its next batch before sleeping (``requested`` if given).

    By default :data:`DEFAULT_SPIN_MS` when the machine has a core for each model process and
    one more for the web layer, so that spinning children never take the service's core;
    else 0.
    """
    if requested is not None:
        return requested
    return DEFAULT_SPIN_MS if cpu_count and cpu_count > models else 0.0


def _spin_until_readable(sock: socket.socket, seconds: float) -> None:
    """Poll ``sock`` for up to ``seconds``, returning as soon as it is readable (or at EOF).

    A core left idle even a millisecond runs the next forward pass slower: on the 2-core bench
    machine a batch of one at 512 tokens took 7.3-7.9 ms after a 1-3 ms sleep against 5.0 ms
    back to back, and 6.0 ms after 3 ms of spinning (bench/bench_spin.py), whatever the host
    does with an idle virtual core (power states, other work on it, its caches). Spinning
    through the gap between one batch's reply and the next batch keeps it warm, as OpenMP's
    and ONNX Runtime's thread pools do between parallel regions, at the price of that much
    CPU when no batch comes in time.
    """
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # b"" at EOF: readable too
            return
        except BlockingIOError:
            continue


def _serve_model(
    sock: socket.socket,
    directory: str,
    device: str,
    dtype: str,
    cpu_threads: int,
    tune_malloc: bool,
    spin_s: float,
) -> None:
    """Child process: load and warm the model, then answer ``score`` frames until told to stop."""
    # Ctrl-C reaches the whole process group; the parent drains its queue first and then closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Before the model loads, so that its weights and every later batch use the same policy.
    allocator = keep_freed_memory() if tune_malloc else AllocatorSettings(False, "off (--no-tune-malloc)")
    try:
        if cpu_threads > 0:
            import torch

            torch.set_num_threads(cpu_threads)
        scorer = HFScorer(directory, device=device, dtype=dtype, token_cache_messages=0)  # the parent tokenizes
        scorer.warm_up()
        settle_heap()  # this process only scores: its loaded model is never garbage
        if allocator.applied:
            release_free_memory()  # what loading freed; the batches' memory is kept from here on
    except BaseException as error:  # reported to the parent, which raises it
        send_frame(sock, ("error", f"{type(error).__name__}: {error}"))
        return
    ready = {"parameters": scorer.parameters, "device": str(scorer.device), "allocator": allocator.to_dict()}
    send_frame(sock, ("ready", ready))
    try:
        while True:
            if spin_s > 0:
                _spin_until_readable(sock, spin_s)
            if (sequences := recv_frame(sock)) is None:
                return
            try:
                before = scorer.forward_time.seconds
                top = scorer.score(sequences)
                reply: tuple[Any, ...] = ("ok", top, scorer.forward_time.seconds - before)
            except Exception as error:
                reply = ("error", error)  # the same exception type in the parent when it pickles
            try:
                send_frame(sock, reply)
            except (pickle.PicklingError, TypeError, AttributeError):
                send_frame(sock, ("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")))
    except (EOFError, ConnectionError):  # the parent went away, or closed its end to stop us
        return


class _Replies(asyncio.Protocol):
    """The parent's end of the socket on an event loop: frames in, each to the oldest waiting caller."""

    def __init__(self, scorer: ProcessScorer):
        self._scorer = scorer
        self._frames = FrameReader()

    def data_received(self, data: bytes) -> None:
        for reply in self._frames.feed(data):
            self._scorer._reply(reply)

    def eof_received(self) -> bool:
        return False  # close the transport: the child has exited

    def connection_lost(self, exc: Exception | None) -> None:
        self._scorer._lost()


class ProcessScorer:
    """A :class:`~abkit.serving.scorer.Scorer` whose forward passes run in a child process.

    Same inputs and results as :class:`~abkit.serving.scorer.HFScorer` (which the child runs);
    :meth:`encode` runs here, with the same tokenizer. The constructor returns once the child
    has loaded and warmed the model.

    Batches go to the child over a socket pair as frames (:mod:`abkit.serving.frames`), either
    from threads (:meth:`score`, blocking) or from an event loop (:meth:`score_async`: no
    thread wakes between the loop and the child, which saves a few tenths of a millisecond a
    batch). The first :meth:`score_async` call ties the scorer to its event loop.

    Args:
        directory: a serving directory.
        device: as for :class:`~abkit.serving.scorer.HFScorer`.
        dtype: as for :class:`~abkit.serving.scorer.HFScorer`.
        cpu_threads: torch intra-op threads in the child (0: torch's default).
        start_timeout_s: how long loading may take.
        token_cache_messages: as for :class:`~abkit.serving.scorer.MessageEncoder` (the cache is here,
            where the tokenizing happens).
        tune_malloc: have the child keep freed memory for its next batches
            (:func:`~abkit.serving.allocator.keep_freed_memory`); :attr:`allocator` says what it did.
        spin_ms: how long the child polls for its next batch after each reply before it sleeps
            (keeps its core warm, see :func:`spin_ms_per_model`; 0: it sleeps at once); and, on
            the event loop, how long before a batch's reply is due the loop starts polling for
            it when that batch is the only one in flight (:meth:`score_async`).

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
        tune_malloc: bool = True,
        spin_ms: float = 0.0,
    ):
        if spin_ms < 0:
            raise ValueError(f"spin_ms must not be negative, got {spin_ms}")
        self._input = MessageEncoder(directory, token_cache_messages=token_cache_messages)
        self.token_cache = self._input.token_cache
        self.model_version = self._input.model_version
        self.max_tokens = self._input.max_tokens
        self.tokenizer = self._input.tokenizer
        self._spin_s = spin_ms / 1000  # the child's and the event loop's
        # spawn, not fork: a forked child would inherit the parent's threads' locks and CUDA state.
        context = multiprocessing.get_context("spawn")
        self._sock, child_sock = socket.socketpair()
        self._process = context.Process(
            target=_serve_model,
            args=(child_sock, str(directory), device, dtype, cpu_threads, tune_malloc, self._spin_s),
            name=f"abkit-model-{self.model_version}",
            daemon=True,  # never outlives the service
        )
        self._process.start()
        child_sock.close()  # so that the child's exit reads as EOF here
        # Batches may be sent while one runs (the child takes them in order, so a queued batch
        # starts the moment the last ends); replies come back in the same order, so each caller
        # receives the reply whose turn matches the order of its send.
        self.concurrent_batches = 2
        self._send_lock = threading.Lock()
        self._turns = threading.Condition()
        self._sent = 0
        self._received = 0
        # The event loop side (score_async): set up by its first call.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._attaching: asyncio.Future | None = None
        self._waiting: deque[asyncio.Future] = deque()  # one per batch sent, in the order sent
        # The last round trip of a lone batch of each size, from which the next one's reply is expected.
        self._round_trip_s: dict[int, float] = {}
        self._closed = False
        self.forward_time = ForwardTime()  # as the child times its forward passes
        self._sock.settimeout(start_timeout_s)
        try:
            status, value = self._receive()
        except TimeoutError:
            self.close()
            raise ModelProcessError(
                f"model process for {directory} did not load within {start_timeout_s:g} s"
            ) from None
        except ModelProcessError as error:
            self.close()
            raise ModelProcessError(f"model process for {directory} failed to load: {error}") from None
        if status != "ready":
            self.close()
            raise ModelProcessError(f"model process for {directory} failed to load: {value}")
        self._sock.settimeout(None)
        self.parameters: int = value["parameters"]
        self.device: str = value["device"]
        self.allocator = AllocatorSettings(**value["allocator"])
        log.info("model process %s: %s", self.model_version, self.allocator.detail)

    def _exited(self) -> ModelProcessError:
        self._process.join(0.0)  # reaps it if it is gone, without waiting
        code = self._process.exitcode
        return ModelProcessError("the model process exited" + (f" (exit code {code})" if code is not None else ""))

    def _receive(self) -> tuple[Any, ...]:
        try:
            return recv_frame(self._sock)
        except (EOFError, ConnectionError):
            self._process.join(1.0)
            raise self._exited() from None

    def encode(self, messages: Sequence[Message]) -> list[int]:
        return self._input.encode(messages)

    def _counted(self, reply: tuple[Any, ...]) -> tuple[Any, ...]:
        """``reply``, its forward pass counted (callers take turns, or run on the one event loop)."""
        if reply[0] == "ok":
            self.forward_time = self.forward_time.plus(reply[2])
        return reply

    @staticmethod
    def _batch_frame(sequences: Sequence[Sequence[int]]) -> bytes:
        return encode_frame([list(ids) for ids in sequences])

    @staticmethod
    def _result(reply: tuple[Any, ...]) -> list[TopK]:
        if reply[0] == "error":
            error = reply[1]
            raise error if isinstance(error, BaseException) else RuntimeError(str(error))
        return reply[1]

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        """Top-k templates of each sequence, computed in the child (blocking; thread-safe).

        Raises:
            ModelProcessError: the child has exited.
            RuntimeError: the scorer is tied to an event loop (use :meth:`score_async` there).
            Exception: what the forward pass raised in the child.
        """
        if self._loop is not None:
            raise RuntimeError("ProcessScorer.score: this scorer is in use by an event loop; await score_async")
        frame = self._batch_frame(sequences)
        with self._send_lock:
            try:
                self._sock.sendall(frame)
            except OSError:
                raise self._exited() from None
            turn = self._sent
            self._sent += 1
        with self._turns:
            self._turns.wait_for(lambda: self._received == turn)
            try:
                reply = self._counted(self._receive())
            finally:  # the next caller's turn, even if the child is gone (it then reads the EOF itself)
                self._received += 1
                self._turns.notify_all()
        return self._result(reply)

    async def score_async(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        """:meth:`score` for an event loop: sends without blocking, and the reply wakes the loop itself.

        Raises:
            ModelProcessError: the child has exited.
            RuntimeError: called from another event loop than the first call's.
            Exception: what the forward pass raised in the child.
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("ProcessScorer.score_async: this scorer is tied to another event loop")
        if self._transport is None:
            if self._attaching is None:
                self._attaching = loop.create_task(self._attach())
            await asyncio.shield(self._attaching)
        assert self._transport is not None
        if self._transport.is_closing():
            raise self._exited()
        reply: asyncio.Future = loop.create_future()
        self._waiting.append(reply)
        alone = len(self._waiting) == 1
        sent = loop.time()
        self._transport.write(self._batch_frame(sequences))
        if alone and self._spin_s > 0:
            await self._spin_for(reply, len(sequences), loop)
        result = await reply
        if alone:
            self._round_trip_s[len(sequences)] = loop.time() - sent
        return self._result(result)

    async def _spin_for(self, reply: asyncio.Future, size: int, loop: asyncio.AbstractEventLoop) -> None:
        """Sleep until ``spin_s`` before ``reply`` is due, then keep the loop polling until it comes.

        The reply is due one round trip of the last lone batch of the same ``size`` after the
        send; with none yet, nothing spins. Polling is ``asyncio.sleep(0)`` in a loop: every
        turn runs whatever else is ready and polls the sockets without blocking, so other
        requests are served meanwhile, and the loop's core is warm, and awake, when the child
        answers (on the 2-core machine the low-load overhead of the tiny model fell from 1.70
        to 1.14 ms; at 512 tokens one run gained 0.49 ms and another nothing). It stops at
        the reply or ``2 x spin_s`` past the due time, whichever is first.
        """
        expected = self._round_trip_s.get(size)
        if expected is None:
            return
        due = loop.time() + expected
        if (delay := expected - self._spin_s) > 0:
            woken = loop.create_future()

            def wake(_: object = None) -> None:
                if not woken.done():
                    woken.set_result(None)

            timer = loop.call_later(delay, wake)
            reply.add_done_callback(wake)
            try:
                await woken
            finally:
                timer.cancel()
                reply.remove_done_callback(wake)
        give_up = due + 2 * self._spin_s
        while not reply.done() and loop.time() < give_up:
            await asyncio.sleep(0)

    async def _attach(self) -> None:
        assert self._loop is not None
        self._sock.setblocking(False)
        self._transport, _ = await self._loop.create_connection(lambda: _Replies(self), sock=self._sock)

    def _reply(self, reply: tuple[Any, ...]) -> None:
        if not self._waiting:
            return  # a reply nobody asked for cannot come from our child; ignore rather than crash the loop
        self._counted(reply)
        waiter = self._waiting.popleft()
        if not waiter.done():  # its caller may have been cancelled; the reply is consumed either way
            waiter.set_result(reply)

    def _lost(self) -> None:
        error = self._exited()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the child (after its current batch) and wait for it.

        The child stops when it reads the end of the stream, so closing our end for writing is
        enough, whether or not an event loop holds the socket.
        """
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):  # already gone
            self._sock.shutdown(socket.SHUT_WR)
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout_s)
        if self._transport is not None and self._loop is not None and not self._loop.is_closed():
            self._transport.close()
        else:  # never attached, or its loop has ended: the transport can no longer close itself
            self._sock.close()

    @property
    def alive(self) -> bool:
        """Whether the child process is running."""
        return self._process.is_alive()
