"""The events the service logs (prediction, selection, case), and their acknowledgement.

With ``durable`` (the service's default) a selection or case request waits until its event's
transaction has committed, so a crash after the answer cannot lose it (docs/serving.md,
"Durability"). Events waiting together share one commit, so the cost is about one commit's
latency per request, not one commit per request.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from abkit.events import columns as c
from abkit.events.columns import ID_COLUMN_BY_KIND, EventKind
from abkit.events.store import utcnow
from abkit.serving.schemas import CaseRequest, SelectionRequest, ServiceError, SuggestRequest
from abkit.serving.scorer import TopK
from abkit.serving.writer import BufferFull, EventWriter

if TYPE_CHECKING:
    from abkit.serving.service import ServiceSettings


def prediction_event(request: SuggestRequest, answer: dict[str, Any], top: TopK, latency_ms: float) -> dict[str, Any]:
    """The prediction event of a scored request and its ``answer`` (logged for the holdout too)."""
    event: dict[str, Any] = {
        c.PREDICTION_ID: answer["prediction_id"],
        c.CASE_ID: request.case_id,
        c.MESSAGE_ID: request.message_id,
        c.ADVOCATE_ID: request.advocate_id,
        c.EXPERIMENT: answer["experiment"],
        c.ARM: answer["arm"],
        c.MODEL_VERSION: answer["model_version"],
        c.LATENCY_MS: latency_ms,
        c.CREATED_AT: utcnow(),
    }
    missing = (None,) * (len(c.TEMPLATE_ID_COLUMNS) - len(top.template_ids))  # a model with fewer labels
    event.update(zip(c.TEMPLATE_ID_COLUMNS, top.template_ids + missing, strict=False))
    event.update(zip(c.SCORE_COLUMNS, top.scores + missing, strict=False))
    return event


# The request bodies' fields are named after the event columns.
def selection_event(request: SelectionRequest, experiment: str, arm: str, model_version: str) -> dict[str, Any]:
    return {
        **request.model_dump(),
        c.SELECTION_ID: request.selection_id or uuid.uuid4().hex,
        c.EXPERIMENT: experiment,
        c.ARM: arm,
        c.MODEL_VERSION: model_version,
        c.CREATED_AT: request.created_at or utcnow(),
    }


def case_event(request: CaseRequest) -> dict[str, Any]:
    return {**request.model_dump(), c.CLOSED_AT: request.closed_at or utcnow()}


async def log_event(writer: EventWriter, kind: EventKind, event: dict[str, Any], settings: ServiceSettings) -> None:
    """Buffer ``event``; with ``settings.durable_events``, return only once it is committed.

    Raises:
        ServiceError: 503 the buffer is full, or no commit within ``settings.durable_timeout_s``
            (the event stays queued: retry with the same id, which is idempotent); 409 its id is
            stored with other content (the stored event is kept).
    """
    try:
        committed = writer.put(kind, event, durable=settings.durable_events)
    except BufferFull as error:
        raise ServiceError(503, f"event buffer full: {error}; try again later") from None
    if committed is None:
        return
    id_column = ID_COLUMN_BY_KIND[kind]
    try:
        outcome = await asyncio.wait_for(asyncio.wrap_future(committed), settings.durable_timeout_s)
    except TimeoutError:
        raise ServiceError(
            503,
            f"{kind} {event[id_column]} not yet stored: the event database did not commit it within "
            f"{settings.durable_timeout_s:g} s; it stays queued, retry with the same {id_column}",
        ) from None
    if outcome.conflict_fields:
        raise ServiceError(
            409,
            f"{id_column} {event[id_column]} is stored already with other content (differs in "
            f"{', '.join(outcome.conflict_fields)}); the stored event is kept and this one was not written",
        )
    if not outcome.stored:
        raise ServiceError(503, f"{kind} {event[id_column]} not stored: {outcome.detail}")
