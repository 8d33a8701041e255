"""Pure ASGI middleware in front of every route: bearer token, body size limit, request metrics.

Written as plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` to keep per-request
overhead to a few microseconds.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from abkit.serving.metrics import ServiceMetrics
from abkit.serving.server import READ_TIMED_OUT

log = logging.getLogger(__name__)
CLIENT_CLOSED_REQUEST = 499  # nginx's status for "the client went away before the answer"
# A shorter bearer token can be guessed; 16 characters of `openssl rand -hex 32` are 64 bits.
MIN_TOKEN_LENGTH = 16

# Probes stay open so that a load balancer can check the service without the token.
OPEN_PATHS = frozenset({"/health", "/ready"})
KNOWN_PATHS = frozenset(
    {"/v1/suggest", "/v1/selections", "/v1/cases", "/health", "/ready", "/metrics", "/docs", "/openapi.json"}
)


def check_token(token: str | None) -> None:
    """Raise ValueError for a bearer token shorter than :data:`MIN_TOKEN_LENGTH` characters."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(
            f"the bearer token has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            "(for example the output of `openssl rand -hex 32`)"
        )


class BodyTooLarge(Exception):
    """The request body passed the configured limit while it was being read."""


class GuardMiddleware:
    """Checks the bearer token and the body size, announced or found while reading (see
    :func:`~abkit.serving.app.create_app`), and records requests by endpoint and status. The token's
    scheme name is case-insensitive (RFC 7235); requests that carry it have ``authenticated`` set in their state.
    """

    def __init__(self, app: Any, metrics: ServiceMetrics, token: str | None, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        endpoint = path if path in KNOWN_PATHS else "other"
        status_seen = 500

        async def send_recording(message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
            await send(message)

        received = 0

        async def receive_limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(f"request body exceeds the limit of {self.max_body_bytes} bytes")
            return message

        try:
            rejection = self._check(scope, path)
            if rejection is not None:
                await rejection(scope, receive, send_recording)
                return
            await self.app(scope, receive_limited, send_recording)
        except ClientDisconnect:
            # The client went away while sending its body, or was too slow and the read timeout
            # closed the connection (408 sent): not a server error, and nobody left to answer.
            status_seen = 408 if scope.get(READ_TIMED_OUT) else CLIENT_CLOSED_REQUEST
            log.debug("request body of %s not received: %s", path, status_seen)
        finally:
            self.metrics.requests.labels(endpoint, str(status_seen)).inc()
            self.metrics.request_duration.labels(endpoint).observe(time.perf_counter() - started)

    def _check(self, scope, path: str) -> JSONResponse | None:
        headers = dict(scope["headers"])
        authenticated = True
        if self.token is not None:
            given = headers.get(b"authorization", b"")
            scheme, _, credentials = given.strip().partition(b" ")
            # Constant-time comparison: the time taken does not reveal how much of the token matched.
            authenticated = scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)
            if not authenticated and path not in OPEN_PATHS:
                reason = "missing bearer token" if not given else "invalid bearer token"
                detail = f"{reason}: send 'Authorization: Bearer <token>'"
                return JSONResponse({"detail": detail}, 401, headers={"www-authenticate": "Bearer"})
        scope.setdefault("state", {})["authenticated"] = authenticated
        length = headers.get(b"content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                return JSONResponse({"detail": "Content-Length header is not a number"}, 400)
            if announced > self.max_body_bytes:
                detail = f"request body of {announced} bytes exceeds the limit of {self.max_body_bytes} bytes"
                return JSONResponse({"detail": detail}, 413)
        return None
