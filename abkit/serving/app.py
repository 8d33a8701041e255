"""The HTTP API (FastAPI): thin handlers over :class:`~abkit.serving.service.SuggestionService`.

Bodies are read and validated here rather than by FastAPI's parameter parsing, so that each
bad input (invalid UTF-8, malformed JSON, wrong types, unknown fields, oversized body) gets
a 4xx whose message names the problem. The request schemas still appear in the OpenAPI
document at ``/docs``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import ErrorDetails

from abkit.serving.middleware import CLIENT_CLOSED_REQUEST, OPEN_PATHS, BodyTooLarge, GuardMiddleware, check_token
from abkit.serving.schemas import (
    CaseRequest,
    CaseResponse,
    ErrorResponse,
    ReadyResponse,
    SelectionRequest,
    SelectionResponse,
    SuggestRequest,
    SuggestResponse,
)
from abkit.serving.service import ServiceError, SuggestionService

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_000_000
# Larger bodies are parsed and validated on a worker thread rather than on the event loop.
PARSE_OFF_LOOP_BYTES = 64 * 1024
_REQUEST_MODELS = (SuggestRequest, SelectionRequest, CaseRequest)
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Missing or wrong bearer token.",
        # Spelt out: a route whose own responses are text (/metrics) would otherwise declare it as text.
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
}


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description, **extra}


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Body is not valid UTF-8 or not JSON (nested too deep, a number too long)."),
    **_UNAUTHORIZED,
    413: _error("Body too large."),
    415: _error("Content-Type is not application/json."),
    422: _error("A field is missing, of the wrong type or invalid."),
    503: _error("Not ready, shutting down, or the event buffer is full.", headers=_RETRY_AFTER),
}
_EVENT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: _error("The id is stored already with other content (not written)."),
    503: _error("Event buffer full, or (durable mode) not committed in time: retry with the same id."),
}


def _json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _problem(error: ErrorDetails) -> dict[str, str]:
    """One validation error as its field (``messages[0].text``) and what is wrong with it."""
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).removeprefix(".")
    problem = "unknown field" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
    return {"field": field or "body", "problem": problem}


def _validate(model: type[M], body: bytes) -> M:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ServiceError(400, f"request body is not valid UTF-8 (byte {error.start})") from None
    try:
        # pydantic's own JSON parser: strict types, bounded nesting (200 levels) and number length.
        return model.model_validate_json(text)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        first = errors[0]
        if first["type"] == "json_invalid":
            reason = first.get("ctx", {}).get("error", first["msg"])
            raise ServiceError(400, f"malformed JSON: {reason}") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise ServiceError(422, f"body: expected a JSON object, got {type(first['input']).__name__}") from None
        problems = [_problem(item) for item in errors]
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        if len(problems) > 5:
            summary += f"; and {len(problems) - 5} more"
        raise ServiceError(422, summary, errors=problems) from None


async def _parse(request: Request, model: type[M]) -> M:
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise ServiceError(415, f"Content-Type {media_type!r} is not supported: send application/json")
    try:
        body = await request.body()
    except BodyTooLarge as error:
        raise ServiceError(413, str(error)) from None
    if not body:
        raise ServiceError(400, "empty request body: expected a JSON object")
    if len(body) > PARSE_OFF_LOOP_BYTES:
        return await asyncio.to_thread(_validate, model, body)
    return _validate(model, body)


async def _client_gone(request: Request) -> None:
    # After the body is read, the next ASGI message is http.disconnect when the client leaves.
    while (await request.receive())["type"] != "http.disconnect":
        pass


def create_app(
    service: SuggestionService, *, token: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FastAPI:
    """The ASGI app serving ``service`` (started with the app, stopped, queue drained and events flushed, with it).

    ``token`` (None: no auth) is required on every path but /health and /ready; ValueError when
    it is shorter than :data:`~abkit.serving.middleware.MIN_TOKEN_LENGTH`. Larger request bodies
    than ``max_body_bytes`` get 413.
    """
    check_token(token)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="abkit serving",
        summary="Top-5 reply-template suggestions with a holdout, and event logging.",
        version="1",
        lifespan=lifespan,
    )

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, error: ServiceError) -> JSONResponse:
        retry_after = error.retry_after
        if retry_after is None and error.status in (429, 503):
            retry_after = service.settings.retry_after_s
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        content = ErrorResponse(detail=str(error), errors=error.errors).model_dump(exclude_none=True)
        return JSONResponse(content, status_code=error.status, headers=headers)

    @app.post(
        "/v1/suggest",
        response_model=SuggestResponse,
        responses={
            **_ERRORS,
            429: _error(
                "Overloaded: the queue would not drain before the deadline, or it is full.", headers=_RETRY_AFTER
            ),
            504: _error("Deadline passed."),
        },
        openapi_extra=_json_body_doc(SuggestRequest),
    )
    async def suggest(request: Request) -> Response:
        """Top-5 templates for the advocate's next reply (none for the holdout, which is still logged)."""
        started = time.monotonic()
        body = await _parse(request, SuggestRequest)
        pending = await service.submit(body, started)
        # One watcher task per request: when the client hangs up it cancels the queued request,
        # which the batcher then drops before the forward pass.
        gone = asyncio.ensure_future(_client_gone(request))
        gone.add_done_callback(lambda _: pending.future.cancel())
        try:
            return JSONResponse(await service.wait(pending))
        except asyncio.CancelledError:
            if gone.done() and not gone.cancelled():
                return Response(status_code=CLIENT_CLOSED_REQUEST)
            pending.future.cancel()  # this handler itself was cancelled (shutdown): nobody awaits the answer
            raise
        except ServiceError:
            raise
        except Exception as error:
            # A genuine fault (e.g. the forward pass failed): say what it was rather than a bare 500.
            log.error("suggest failed", exc_info=error)
            raise ServiceError(500, f"internal error: {type(error).__name__}: {error}") from None
        finally:
            gone.cancel()

    def event_route(path: str, model: type[BaseModel], response_model: type[BaseModel]) -> Callable:
        doc = _json_body_doc(model)
        return app.post(
            path, status_code=202, response_model=response_model, responses=_EVENT_ERRORS, openapi_extra=doc
        )

    @event_route("/v1/selections", SelectionRequest, SelectionResponse)
    async def selections(request: Request) -> Response:
        """Log the template an advocate chose and how long it took (arm assigned by the service)."""
        body = await _parse(request, SelectionRequest)
        return JSONResponse(await service.log_selection(body), status_code=202)

    @event_route("/v1/cases", CaseRequest, CaseResponse)
    async def cases(request: Request) -> Response:
        """Log a closed case's total handle time."""
        body = await _parse(request, CaseRequest)
        return JSONResponse(await service.log_case(body), status_code=202)

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        response_model=ReadyResponse,
        responses={503: {"model": ReadyResponse, "description": "Loading, or the event database is unavailable."}},
    )
    async def ready(request: Request) -> JSONResponse:
        """Readiness: models loaded and warmed, event database reachable, buffer not full.

        Without the bearer token (when one is set) the problems are named without their details
        (no database host or error text).
        """
        ok, state = service.readiness(detailed=request.state.authenticated)
        return JSONResponse(state, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={
            200: {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}},
            **_UNAUTHORIZED,
        },
    )
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            _, definitions = models_json_schema(
                [(model, "validation") for model in _REQUEST_MODELS], ref_template="#/components/schemas/{model}"
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(definitions.get("$defs", {}))
            text = components["schemas"]["MessageIn"]["properties"]["text"]
            text["maxLength"] = service.settings.max_message_chars  # the per-message limit this server applies
            if token is not None:
                components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                for path, operations in schema["paths"].items():
                    if path not in OPEN_PATHS:
                        for operation in operations.values():
                            operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(GuardMiddleware, metrics=service.metrics, token=token, max_body_bytes=max_body_bytes)
    return app
