"""Pure ASGI middleware in front of every route: bearer token, body size limit, request metrics.

Written as plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` to keep per-request
overhead to a few microseconds.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from abkit.serving.metrics import ServiceMetrics

# Probes stay open so that a load balancer can check the service without the token.
OPEN_PATHS = frozenset({"/health", "/ready"})
KNOWN_PATHS = frozenset(
    {"/v1/suggest", "/v1/selections", "/v1/cases", "/health", "/ready", "/metrics", "/docs", "/openapi.json"}
)


class BodyTooLarge(Exception):
    """The request body passed the configured limit while it was being read."""

    def __init__(self, limit: int):
        super().__init__(f"request body exceeds the limit of {limit} bytes")
        self.limit = limit


async def _send_json(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Checks the bearer token and the body size, and records requests by endpoint and status.

    Args:
        app: the ASGI app behind it.
        metrics: request counters and durations.
        token: the bearer token required on every path but ``/health`` and ``/ready``;
            ``None`` when bound to the loopback interface only.
        max_body_bytes: larger bodies get 413 (announced by Content-Length or found while reading).
    """

    def __init__(self, app: Any, metrics: ServiceMetrics, token: str | None, max_body_bytes: int):
        self.app = app
        self.metrics = metrics
        self.token = f"Bearer {token}".encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        endpoint = path if path in KNOWN_PATHS else "other"
        status_seen = 500

        async def send_recording(message) -> None:  # type: ignore[no-untyped-def]
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
            await send(message)

        try:
            rejection = self._check(scope, path)
            if rejection is not None:
                await _send_json(send_recording, *rejection)
                return
            await self.app(scope, self._limited(receive), send_recording)
        finally:
            self.metrics.requests.labels(endpoint, str(status_seen)).inc()
            self.metrics.request_duration.labels(endpoint).observe(time.perf_counter() - started)

    def _check(self, scope, path: str) -> tuple | None:  # type: ignore[no-untyped-def]
        headers = dict(scope["headers"])
        if self.token is not None and path not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            # Constant-time comparison: the time taken does not reveal how much of the token matched.
            if not hmac.compare_digest(given, self.token):
                reason = "missing bearer token" if not given else "invalid bearer token"
                return 401, f"{reason}: send 'Authorization: Bearer <token>'", [(b"www-authenticate", b"Bearer")]
        length = headers.get(b"content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                return 400, "Content-Length header is not a number"
            if announced > self.max_body_bytes:
                return 413, f"request body of {announced} bytes exceeds the limit of {self.max_body_bytes} bytes"
        return None

    def _limited(self, receive):  # type: ignore[no-untyped-def]
        received = 0
        limit = self.max_body_bytes

        async def receive_limited():  # type: ignore[no-untyped-def]
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        return receive_limited
