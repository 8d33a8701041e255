"""One suggest request's way through the service: queued, answered, logged as a prediction event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from abkit.assignment.config import HOLDOUT
from abkit.events import columns as c
from abkit.serving.batcher import DeadlinePassed
from abkit.serving.schemas import SuggestRequest
from abkit.serving.scorer import TopK


@dataclass(frozen=True)
class SuggestResult:
    """The outcome of one suggest request (what the HTTP layer returns)."""

    prediction_id: str
    experiment: str
    arm: str
    model_version: str
    top: TopK
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        shown = (
            []
            if self.arm == HOLDOUT
            else [{"template_id": s.template_id, "score": s.score} for s in self.top.suggestions]
        )
        return {
            "prediction_id": self.prediction_id,
            "experiment": self.experiment,
            "arm": self.arm,
            "model_version": self.model_version,
            "suggestions": shown,
            "latency_ms": round(self.latency_ms, 3),
        }


@dataclass(frozen=True)
class PendingSuggestion:
    """A suggest request admitted and queued for its forward pass (see :meth:`SuggestionService.submit`)."""

    request: SuggestRequest
    arm: str
    model_version: str
    future: asyncio.Future  # resolves to a batcher.Scored
    started: float  # time.monotonic() when the request arrived
    budget_s: float  # its deadline, relative to started


def expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(DeadlinePassed("deadline passed"))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def prediction_event(request: SuggestRequest, result: SuggestResult) -> dict[str, Any]:
    """The prediction event of a scored request (logged for the holdout too)."""
    event: dict[str, Any] = {
        c.PREDICTION_ID: result.prediction_id,
        c.CASE_ID: request.case_id,
        c.MESSAGE_ID: request.message_id,
        c.ADVOCATE_ID: request.advocate_id,
        c.EXPERIMENT: result.experiment,
        c.ARM: result.arm,
        c.MODEL_VERSION: result.model_version,
        c.LATENCY_MS: result.latency_ms,
        c.CREATED_AT: utcnow(),
    }
    for rank, (tid_column, score_column) in enumerate(zip(c.TEMPLATE_ID_COLUMNS, c.SCORE_COLUMNS, strict=True)):
        suggestion = result.top.suggestions[rank] if rank < len(result.top.suggestions) else None
        event[tid_column] = suggestion.template_id if suggestion else None
        event[score_column] = suggestion.score if suggestion else None
    return event
