"""Handing a client's event (selection, case) to the writer, and acknowledging it when durable.

With ``durable`` (the service's default) the request waits until the event's transaction has
committed, so a crash of the service after the answer cannot lose it (docs/serving.md,
"Durability"). Events waiting together share one commit (the writer takes them all at once),
so the cost is about one commit's latency per request, not one commit per request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from abkit.events.columns import ID_COLUMN_BY_KIND, EventKind
from abkit.serving.errors import ServiceError
from abkit.serving.writer import BufferFull, EventWriter, WriteOutcome


def _resolve(future: asyncio.Future, outcome: WriteOutcome) -> None:
    if not future.done():  # not already given up on (timed out, client gone)
        future.set_result(outcome)


async def log_event(
    writer: EventWriter,
    kind: EventKind,
    event: dict[str, Any],
    *,
    durable: bool,
    timeout_s: float,
    retry_after: int,
) -> None:
    """Buffer ``event``; when ``durable``, return only once it is committed.

    Raises:
        ServiceError: 503 the buffer is full, or no commit within ``timeout_s`` (the event
            stays queued and is written later: retry with the same id, which is idempotent);
            409 its id is stored with other content (the stored event is kept).
    """
    committed: asyncio.Future[WriteOutcome] | None = None
    on_commit = None
    if durable:
        loop = asyncio.get_running_loop()
        committed = loop.create_future()

        def on_commit(outcome: WriteOutcome) -> None:  # called on the writer thread
            loop.call_soon_threadsafe(_resolve, committed, outcome)

    try:
        writer.put(kind, event, on_commit=on_commit)
    except BufferFull as error:
        raise ServiceError(503, f"event buffer full: {error}; try again later", retry_after=retry_after) from None
    if committed is None:
        return
    id_column = ID_COLUMN_BY_KIND[kind]
    try:
        outcome = await asyncio.wait_for(committed, timeout_s)
    except TimeoutError:
        raise ServiceError(
            503,
            f"{kind} {event[id_column]} not yet stored: the event database did not commit it within "
            f"{timeout_s:g} s; it stays queued, retry with the same {id_column}",
            retry_after=retry_after,
        ) from None
    if outcome.conflict_fields:
        raise ServiceError(
            409,
            f"{id_column} {event[id_column]} is stored already with other content (differs in "
            f"{', '.join(outcome.conflict_fields)}); the stored event is kept and this one was not written",
        )
    if not outcome.stored:
        raise ServiceError(503, f"{kind} {event[id_column]} not stored: {outcome.detail}", retry_after=retry_after)
