"""The suggestion service, without the web layer: assign, batch, score, log.

The experiment's non-holdout arms are served model versions; the holdout is scored by the
first (baseline) model. Requests are admitted only while the event buffer has room, so every
acknowledged request has its event kept.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from abkit.assignment import ExperimentConfig
from abkit.assignment.config import HOLDOUT
from abkit.events.validate import MAX_NAME_LENGTH
from abkit.serving.batcher import BatcherSettings, BatcherStopped, DeadlinePassed, DynamicBatcher, Overloaded, QueueFull
from abkit.serving.event_log import case_event, log_event, prediction_event, selection_event
from abkit.serving.heap import settle_heap
from abkit.serving.metrics import ServiceMetrics
from abkit.serving.schemas import CaseRequest, SelectionRequest, SelectionResponse, ServiceError, SuggestRequest
from abkit.serving.scorer import ModelSlot, Scorer, TopK
from abkit.serving.token_cache import CachingTokenizer
from abkit.serving.writer import EventWriter
from abkit.settings import settings
from abkit.text import Message

log = logging.getLogger(__name__)

# Requests with up to this much text are tokenized on the event loop (at most about 1 ms, less
# than a round trip to a thread); up to LARGE_REQUEST_CHARS on a tokenizer thread, and larger
# ones (about 12 ms of tokenizing; 900 KB took 3.4 s) on a thread of their own, so that they
# wait only for each other.
INLINE_REQUEST_CHARS = 4_096
LARGE_REQUEST_CHARS = 50_000


@settings
class ServiceSettings:
    """Service-level limits (batching and event writing have their own settings)."""

    batcher: BatcherSettings = field(default_factory=BatcherSettings)
    deadline_s: float = 2.0  # default time a suggest request may take before a 504
    # Longest message text accepted, in characters, checked before the tokenizer: one message of
    # 900 KB took the tokenizer seconds. 20,000 is about 5,000 tokens, ten times a 512-token window.
    max_message_chars: Annotated[int, Field(ge=1)] = 20_000
    retry_after_s: int = 1  # Retry-After sent with 429 and 503 (unless an error says otherwise)
    shutdown_flush_timeout_s: float = 30.0  # how long shutdown retries writing buffered events
    # Acknowledge a selection or case only once its transaction has committed (docs/serving.md,
    # "Durability"); False acknowledges it from the writer's memory, as predictions always are.
    durable_events: bool = True
    durable_timeout_s: float = 5.0  # wait for the commit this long, then 503 (the event stays queued)
    # After loading, freeze the heap and make young GC collections rare (abkit.serving.heap).
    # Process-wide, so off by default for a service embedded in another program; `abkit serve` sets it.
    settle_heap: bool = False


@dataclass(frozen=True)
class PendingSuggestion:
    """A suggest request admitted and queued for its forward pass (see :meth:`SuggestionService.submit`)."""

    request: SuggestRequest
    arm: str
    model_version: str
    future: asyncio.Future[TopK]
    started: float  # time.monotonic() when the request arrived
    budget_s: float  # its deadline, relative to started


class SuggestionService:
    """Assigns arms, batches and scores requests, and logs events.

    ``models`` are the served models, baseline first; the ``experiment``'s non-holdout arms
    must be among them. The service starts and closes ``writer``.
    """

    def __init__(
        self,
        models: Sequence[ModelSlot],
        experiment: ExperimentConfig,
        writer: EventWriter,
        settings: ServiceSettings | None = None,
    ):
        if not models:
            raise ValueError("serve: at least one model is needed")
        versions = [m.model_version for m in models]
        duplicates = sorted({v for v in versions if versions.count(v) > 1})
        if duplicates:
            raise ValueError(f"serve: model version(s) {duplicates} given more than once")
        unknown = [arm for arm in experiment.arm_names if arm != HOLDOUT and arm not in versions]
        if unknown:
            raise ValueError(
                f"experiment {experiment.name!r}: arm(s) {unknown} are not served model versions {versions}"
            )
        for name in versions:  # the experiment's own names are checked by ExperimentConfig
            if len(name) > MAX_NAME_LENGTH:
                raise ValueError(f"serve: name {name!r} is longer than {MAX_NAME_LENGTH} characters")
        self.models = list(models)
        self.baseline_version = versions[0]
        self.experiment = experiment
        self.writer = writer
        self.settings = settings or ServiceSettings()
        self.metrics = ServiceMetrics(self)
        self.scorers: dict[str, Scorer] = {}
        self.batchers: dict[str, DynamicBatcher[TopK]] = {}
        # One model worker thread: models sharing a device take turns rather than contend.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abkit-model")
        self._tokenizer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abkit-tokenize")
        self._large_tokenizer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="abkit-tokenize-large")
        self.loaded = False
        self.load_error: str | None = None
        self._load_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start the event writer and load and warm the models in the background."""
        self.writer.start()
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for slot in self.models:
                scorer = await loop.run_in_executor(self._executor, slot.load)
                if scorer.model_version != slot.model_version:
                    raise ValueError(f"model loaded as {scorer.model_version!r}, expected {slot.model_version!r}")
                warm_up = getattr(scorer, "warm_up", None)
                if warm_up is not None:
                    await loop.run_in_executor(self._executor, warm_up)
                self.scorers[slot.model_version] = scorer
        except Exception as error:  # reported by /ready and every request; the process stays up to say so
            self.load_error = f"{type(error).__name__}: {error}"
            log.exception("loading the models failed")
            return
        for version, scorer in self.scorers.items():
            batcher: DynamicBatcher[TopK] = DynamicBatcher(
                scorer.score, self._executor, self.settings.batcher, observer=self.metrics
            )
            batcher.start()
            self.batchers[version] = batcher
        if self.settings.settle_heap:
            settle_heap()
            log.debug("heap settled: %d objects frozen, GC thresholds %s", gc.get_freeze_count(), gc.get_threshold())
        self.loaded = True
        log.info("serving %s under experiment %s", list(self.scorers), self.experiment.name)

    async def stop(self) -> int:
        """Finish queued requests, flush the events, release the worker; return the events left unwritten."""
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        for batcher in self.batchers.values():
            await batcher.stop()
        self.loaded = False
        left = await asyncio.to_thread(self.writer.close, self.settings.shutdown_flush_timeout_s)
        for executor in (self._executor, self._tokenizer, self._large_tokenizer):
            executor.shutdown(wait=True)
        return left

    def queue_sizes(self) -> dict[str, int]:
        return {version: batcher.queue_size for version, batcher in self.batchers.items()}

    def token_caches(self) -> dict[str, CachingTokenizer]:
        """The token id cache of each loaded model that has one (HFScorer does)."""
        found = {version: getattr(scorer, "token_cache", None) for version, scorer in list(self.scorers.items())}
        return {version: cache for version, cache in found.items() if isinstance(cache, CachingTokenizer)}

    def readiness(self, *, detailed: bool = True) -> tuple[bool, dict[str, Any]]:
        """Whether the service can take traffic, and why not.

        Without ``detailed`` (callers without the bearer token) the problems are named without
        their details (error texts may carry the database host), and no figures are added.
        """
        problems: list[tuple[str, str]] = []  # (what, its details)
        if self.load_error:
            problems.append(("model load failed", self.load_error))
        elif not self.loaded:
            problems.append(("models are loading", ""))
        if not self.writer.db_up:
            problems.append(("event database unavailable", self.writer.last_error or "not yet reached"))
        if not self.writer.has_room():
            problems.append(("event buffer full", f"{self.writer.pending} events waiting"))
        ready = not problems
        if not detailed:
            return ready, {"ready": ready, "problems": [what for what, _ in problems]}
        return ready, {
            "ready": ready,
            "problems": [f"{what}: {details}" if details else what for what, details in problems],
            "models": list(self.scorers),
            "experiment": self.experiment.name,
            "events_pending": self.writer.pending,
            "database_up": self.writer.db_up,
        }

    def arm_of(self, advocate_id: str, case_id: str) -> tuple[str, str]:
        """The arm of an interaction and the model version that scores it."""
        arm = self.experiment.assign(advocate_id, case_id)
        return arm, (self.baseline_version if arm == HOLDOUT else arm)

    async def submit(self, request: SuggestRequest, started: float) -> PendingSuggestion:
        """Admit, assign, tokenize and queue one request that arrived at ``started`` (``time.monotonic()``).

        Cancel ``pending.future`` when the client leaves.

        Raises:
            ServiceError: 422 a message over the limit, 429 overloaded (the queue is full, or it
                would not drain before the deadline), 503 not ready, buffer full or shutting down.
        """
        if self.load_error:
            raise ServiceError(503, f"model failed to load: {self.load_error}")
        if not self.loaded:
            raise ServiceError(503, "model is loading; not ready yet")
        limit = self.settings.max_message_chars
        characters = 0
        for index, message in enumerate(request.messages):
            characters += len(message.text)
            if len(message.text) > limit:
                raise ServiceError(
                    422,
                    f"messages[{index}].text: {len(message.text):,} characters, over the limit of {limit:,} a message",
                )
        messages = [Message(m.role, m.text) for m in request.messages]  # roles and texts checked by the schema
        if not self.writer.has_room():
            raise ServiceError(
                503,
                f"event buffer full: {self.writer.pending} events are waiting for the database; try again later",
            )
        arm, version = self.arm_of(request.advocate_id, request.case_id)
        budget_s = request.deadline_ms / 1000 if request.deadline_ms is not None else self.settings.deadline_s
        batcher = self.batchers[version]
        try:
            batcher.check_admission(started + budget_s - time.monotonic())  # before spending the tokenizer on it
            encode = self.scorers[version].encode
            if characters <= INLINE_REQUEST_CHARS:
                token_ids = encode(messages)
            else:
                lane = self._large_tokenizer if characters > LARGE_REQUEST_CHARS else self._tokenizer
                token_ids = await asyncio.get_running_loop().run_in_executor(lane, encode, messages)
            future = batcher.submit_nowait(token_ids, started + budget_s)
        except Overloaded as error:
            self.metrics.on_dropped("overloaded", 1)
            # Retry-After: at least the configured value, about the backlog's excess over the deadline.
            wait_s = max(self.settings.retry_after_s, min(60, math.ceil(error.wait_s - error.budget_s)))
            raise ServiceError(429, f"server busy: {error}; retry later", retry_after=wait_s) from None
        except QueueFull:
            self.metrics.on_dropped("queue_full", 1)
            raise ServiceError(429, "server busy: the request queue is full; retry later") from None
        except BatcherStopped:
            raise ServiceError(503, "server is shutting down") from None
        return PendingSuggestion(request, arm, version, future, started, budget_s)

    async def wait(self, pending: PendingSuggestion) -> dict[str, Any]:
        """Wait for a submitted request's forward pass, log its prediction and return the answer's body.

        Raises ServiceError 504 when the deadline passes first, CancelledError when
        ``pending.future`` was cancelled (the client went away), and whatever the forward pass raised.
        """
        try:
            top = await pending.future  # failed by the batcher at the deadline
        except DeadlinePassed:
            raise ServiceError(
                504, f"deadline of {pending.budget_s * 1000:g} ms passed before the model answered"
            ) from None
        latency_ms = (time.monotonic() - pending.started) * 1000
        shown = () if pending.arm == HOLDOUT else zip(top.template_ids, top.scores, strict=True)
        answer = {
            "prediction_id": uuid.uuid4().hex,
            "experiment": self.experiment.name,
            "arm": pending.arm,
            "model_version": pending.model_version,
            "suggestions": [{"template_id": template_id, "score": score} for template_id, score in shown],
            "latency_ms": round(latency_ms, 3),
        }
        # Admitted by submit(), so the event is kept even if the buffer filled meanwhile.
        self.writer.put("prediction", prediction_event(pending.request, answer, top, latency_ms), force=True)
        self.metrics.arms.labels(pending.arm).inc()
        return answer

    async def log_selection(self, request: SelectionRequest) -> dict[str, str]:
        """Log a selection event; durable (see :func:`~abkit.serving.event_log.log_event`) unless configured not."""
        arm, version = self.arm_of(request.advocate_id, request.case_id)
        event = selection_event(request, self.experiment.name, arm, version)
        await log_event(self.writer, "selection", event, self.settings)
        return {field: event[field] for field in SelectionResponse.model_fields}  # the event's own columns

    async def log_case(self, request: CaseRequest) -> dict[str, str]:
        """Log a case event (handle time of a closed case); durable like :meth:`log_selection`."""
        await log_event(self.writer, "case", case_event(request), self.settings)
        return {"case_id": request.case_id}
