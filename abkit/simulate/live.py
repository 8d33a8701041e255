"""Simulated advocates driving a running ``abkit serve``: traffic through the real model.

Each simulated case (a transcript from :func:`~abkit.simulate.transcripts.generate_transcripts`)
is replayed message by message. Every new customer message is sent to ``POST /v1/suggest``
with the conversation so far; when the transcript's labelled advocate reply comes, the
advocate "picks" its template (the label) and reports it to ``POST /v1/selections`` with
the ``prediction_id`` it answers. The time the pick took comes from the simulator's
selection-time model (:mod:`abkit.simulate.timing`), with the rank the real model gave the
chosen template among the suggestions shown, so accuracy and time saved are the served
model's own. When the case ends it is closed through ``POST /v1/cases``.

Randomness (advocates, time effects) is drawn per case from ``(seed, case number)``, so
the requests sent do not depend on the concurrency; what the model answers does.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import numpy as np
from pydantic import Field

from abkit.settings import settings
from abkit.simulate.live_http import LiveError as LiveError  # raised here, caught by callers
from abkit.simulate.live_http import post_json, wait_ready
from abkit.simulate.model import WorldModel, build_world_model
from abkit.simulate.settings import DEMO_TEMPLATES, WorldSettings
from abkit.simulate.timing import lognormal_unit_mean, other_work_s, selection_time_s
from abkit.simulate.transcripts import TRANSFER_MESSAGE, generate_transcripts
from abkit.simulate.world import advocate_id_for

_LIVE_STREAM = 0x11FE  # keeps the live driver's draws apart from the world's


@settings
class LiveSettings:
    """How much traffic to send and how.

    Attributes:
        n_cases: simulated support cases to replay.
        seed: seeds the transcripts and the advocates' draws (use one the model was not trained on).
        concurrency: cases in flight at once (advocates working in parallel).
        n_templates: the served model's label set size; the transcripts use the same catalogue.
        timeout_s: per HTTP request.
        ready_timeout_s: how long to wait for ``GET /ready`` before the first request.
        max_retries: retries of a request answered 429/503/504 or lost in transport (the
            backoff doubles from 0.1 s up to 5 s, so 10 retries ride out about 25 s of overload).
        token: bearer token, when the service requires one.
    """

    n_cases: Annotated[int, Field(ge=1)] = 200
    seed: int = 11
    concurrency: Annotated[int, Field(ge=1)] = 8
    n_templates: Annotated[int, Field(ge=1)] = DEMO_TEMPLATES
    timeout_s: Annotated[float, Field(gt=0)] = 30.0
    ready_timeout_s: Annotated[float, Field(ge=0)] = 120.0
    max_retries: Annotated[int, Field(ge=0)] = 10
    token: str | None = None


@dataclass(frozen=True)
class ArmTraffic:
    """What the driver sent and was answered, for one (experiment, arm).

    Attributes:
        experiment, arm: as the service answered them.
        predictions: ``/v1/suggest`` answers (one prediction event each).
        shown: answers that carried suggestions (0 for the holdout).
        selections: selections reported (one selection event each).
        top1, top5: selections whose template was first / among the suggestions shown.
        selection_time_s: total seconds of those selections.
    """

    experiment: str
    arm: str
    predictions: int
    shown: int
    selections: int
    top1: int
    top5: int
    selection_time_s: float

    @property
    def mean_selection_time_s(self) -> float | None:
        return self.selection_time_s / self.selections if self.selections else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "arm": self.arm,
            "predictions": self.predictions,
            "shown": self.shown,
            "selections": self.selections,
            "top1": self.top1,
            "top5": self.top5,
            "selection_time_s": round(self.selection_time_s, 3),
        }


@dataclass(frozen=True)
class LiveResult:
    """The driver's own account of the traffic, to reconcile with the event store."""

    url: str
    cases: int
    arms: tuple[ArmTraffic, ...]
    retries: int
    seconds: float

    @property
    def predictions(self) -> int:
        return sum(a.predictions for a in self.arms)

    @property
    def selections(self) -> int:
        return sum(a.selections for a in self.arms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "cases": self.cases,
            "predictions": self.predictions,
            "selections": self.selections,
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "arms": [arm.to_dict() for arm in self.arms],
        }


@dataclass(frozen=True)
class Turn:
    """One step of a replayed case.

    ``kind`` is ``"suggest"`` (a new customer message: ask for suggestions) or ``"select"``
    (the advocate's labelled reply: report ``template_id``). ``upto`` is how many messages
    of the transcript the advocate has seen, ``interaction`` which advocate of the case acts.
    """

    kind: str
    upto: int
    message_id: str
    interaction: int
    template_id: str | None = None


def case_turns(messages: Sequence[dict[str, Any]]) -> list[Turn]:
    """The suggest and select steps of one transcript, in order (pure).

    A selection answers the latest suggest step of the same advocate. A labelled advocate
    message with none before it (not produced by the simulator, but possible in a hand-made
    file) gets a suggest step on the conversation so far first; a labelled first message
    (nothing to score) is skipped.
    """
    turns: list[Turn] = []
    interaction = 0
    unanswered: Turn | None = None  # the latest suggest step of this advocate, not yet answered
    for index, message in enumerate(messages):
        role, template_id = message.get("role"), message.get("template_id")
        if role == "system" and message.get("text") == TRANSFER_MESSAGE:
            interaction += 1
            unanswered = None  # the new advocate asks for suggestions of their own
        elif role == "customer":
            unanswered = Turn("suggest", index + 1, message["message_id"], interaction)
            turns.append(unanswered)
        elif role == "advocate" and template_id is not None and index > 0:
            if unanswered is None:
                unanswered = Turn("suggest", index, messages[index - 1]["message_id"], interaction)
                turns.append(unanswered)
            turns.append(Turn("select", index, unanswered.message_id, interaction, template_id))
            unanswered = None
    return turns


def draw_advocates(rng: np.random.Generator, n_interactions: int, n_advocates: int) -> list[int]:
    """Advocate index per interaction of a case: a transfer always goes to someone else."""
    first = int(rng.integers(0, n_advocates))
    advocates = [first]
    for _ in range(1, n_interactions):
        advocates.append((advocates[-1] + 1 + int(rng.integers(0, n_advocates - 1))) % n_advocates)
    return advocates


def rank_of(template_id: str, suggestions: Sequence[dict[str, Any]]) -> int:
    """1-based rank of ``template_id`` among the suggestions shown; 0 when it is not among them."""
    for position, suggestion in enumerate(suggestions, start=1):
        if suggestion.get("template_id") == template_id:
            return position
    return 0


@dataclass
class _Tally:
    predictions: int = 0
    shown: int = 0
    selections: int = 0
    top1: int = 0
    top5: int = 0
    selection_time_s: float = 0.0


@dataclass
class _Run:
    """Mutable state of one drive (a single asyncio loop touches it, so no locks)."""

    client: httpx.AsyncClient
    settings: LiveSettings
    world: WorldModel
    template_index: dict[str, int]
    tallies: dict[tuple[str, str], _Tally] = field(default_factory=dict)
    retries: Counter = field(default_factory=Counter)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        def count() -> None:
            self.retries[path] += 1

        return await post_json(self.client, path, body, max_retries=self.settings.max_retries, on_retry=count)

    def tally(self, experiment: str, arm: str) -> _Tally:
        return self.tallies.setdefault((experiment, arm), _Tally())

    async def replay(self, number: int, transcript: dict[str, Any]) -> None:
        """Replay one case: suggestions, selections, then the case's close."""
        settings = self.world.settings
        case_id, messages = transcript["case_id"], transcript["messages"]
        turns = case_turns(messages)
        rng = np.random.default_rng([self.settings.seed, _LIVE_STREAM, number])
        n_interactions = 1 + max((t.interaction for t in turns), default=0)
        advocates = draw_advocates(rng, n_interactions, settings.n_advocates)
        interaction_effect = lognormal_unit_mean(rng, settings.interaction_sd, n_interactions)
        answer: dict[str, Any] | None = None
        total_s = 0.0
        selection_number = 0
        for turn in turns:
            advocate = advocate_id_for(advocates[turn.interaction])
            if turn.kind == "suggest":
                answer = await self._suggest(case_id, advocate, turn, messages)
                continue
            assert answer is not None and turn.template_id is not None  # case_turns puts a suggest first
            rank = rank_of(turn.template_id, answer["suggestions"])
            template = self.template_index.get(turn.template_id)
            effect = (
                (self.world.template_factor[template] if template is not None else 1.0)
                * self.world.advocate_factor[advocates[turn.interaction]]
                * interaction_effect[turn.interaction]
                * lognormal_unit_mean(rng, settings.selection_sd, 1)[0]
            )
            # The real model's ranking is its own saving: no per-version extra saving here.
            shown = bool(answer["suggestions"])
            seconds = float(selection_time_s(settings, np.array([rank]), np.array([shown]), 0.0, effect)[0])
            await self._select(f"{case_id}-s{selection_number}", case_id, advocate, turn, answer, rank, seconds)
            total_s += seconds
            selection_number += 1
        handle_time = round(total_s + float(other_work_s(rng, settings, 1)[0]), 3)
        await self.post("/v1/cases", {"case_id": case_id, "handle_time_s": handle_time})

    async def _suggest(
        self, case_id: str, advocate: str, turn: Turn, messages: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        body = {
            "case_id": case_id,
            "message_id": turn.message_id,
            "advocate_id": advocate,
            "messages": [{"role": m["role"], "text": m["text"]} for m in messages[: turn.upto]],
        }
        answer = await self.post("/v1/suggest", body)
        tally = self.tally(answer["experiment"], answer["arm"])
        tally.predictions += 1
        tally.shown += bool(answer["suggestions"])
        return answer

    async def _select(
        self,
        selection_id: str,
        case_id: str,
        advocate: str,
        turn: Turn,
        answer: dict[str, Any],
        rank: int,
        seconds: float,
    ) -> None:
        body = {
            "selection_id": selection_id,  # fixed id: a retried report is stored once
            "case_id": case_id,
            "message_id": turn.message_id,
            "advocate_id": advocate,
            "template_id": turn.template_id,
            "selection_time_s": seconds,
            "prediction_id": answer["prediction_id"],
        }
        accepted = await self.post("/v1/selections", body)
        tally = self.tally(accepted["experiment"], accepted["arm"])
        tally.selections += 1
        tally.top1 += rank == 1
        tally.top5 += rank > 0
        tally.selection_time_s += seconds


async def drive_async(url: str, settings: LiveSettings, *, progress: bool = False) -> LiveResult:
    """Replay ``settings.n_cases`` simulated cases against the service at ``url``.

    Raises:
        LiveError: the service is not ready in time or refuses a request for good.
    """
    started = time.monotonic()
    world = build_world_model(WorldSettings(n_templates=settings.n_templates), settings.seed)
    transcripts = generate_transcripts(settings.seed, settings.n_cases, n_templates=settings.n_templates)
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else None
    limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), timeout=settings.timeout_s, limits=limits, headers=headers
    ) as client:
        await wait_ready(client, settings.ready_timeout_s)
        bar = _progress_bar(len(transcripts), progress)
        run = _Run(client, settings, world, {tid: i for i, tid in enumerate(world.catalogue.template_ids)})
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(len(transcripts)):
            queue.put_nowait(number)

        async def worker() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                await run.replay(number, transcripts[number])
                if bar is not None:
                    bar.update()

        workers = [asyncio.ensure_future(worker()) for _ in range(min(settings.concurrency, len(transcripts)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            if bar is not None:
                bar.close()
    arms = tuple(
        ArmTraffic(experiment, arm, t.predictions, t.shown, t.selections, t.top1, t.top5, t.selection_time_s)
        for (experiment, arm), t in sorted(run.tallies.items())
    )
    return LiveResult(url, len(transcripts), arms, sum(run.retries.values()), time.monotonic() - started)


def drive(url: str, settings: LiveSettings, *, progress: bool = False) -> LiveResult:
    """Blocking :func:`drive_async` (runs its own event loop)."""
    return asyncio.run(drive_async(url, settings, progress=progress))


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from abkit.progress import progress_bar

    return progress_bar(total=total, unit="case", desc="cases", leave=False)
