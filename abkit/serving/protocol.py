"""A read timeout for uvicorn's HTTP protocol: slow or stalled clients cannot hold connections.

uvicorn bounds the idle time between requests on a kept-alive connection but not the time a
client takes to send a request: a connection that sends half its headers, or announces a
body and never sends it, stays open indefinitely, and a few hundred of them hold the server's
sockets and memory. Here each request must arrive whole (request line, headers and body)
within ``read_timeout_s`` of its first byte, or of the connection opening for the first
request; otherwise the server answers 408 and closes the connection.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_READ_TIMEOUT_S = 10.0  # a 1 MB body at 1 Mbit/s takes 8 s
READ_TIMED_OUT = "abkit.read_timed_out"  # set in the scope of a request whose body timed out


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"detail": f"request not received within {seconds:g} s"}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class ReadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a whole-request read timeout (see the module docstring)."""

    read_timeout_s = DEFAULT_READ_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None

    def _arm_read_timer(self) -> None:
        self._disarm_read_timer()
        self._read_timer = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _disarm_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_read_timer()  # the first request must start and end within the timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_read_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_read_timer()

    def on_message_complete(self) -> None:
        self._disarm_read_timer()
        super().on_message_complete()

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        reading_body = cycle is not None and cycle.scope is self.scope and cycle.more_body
        if reading_body:
            self.scope[READ_TIMED_OUT] = True  # type: ignore[literal-required]
        if cycle is None or not cycle.response_started or cycle.scope is not self.scope:
            self.transport.write(_timeout_response(self.read_timeout_s))
        self.transport.close()


def read_timeout_protocol(read_timeout_s: float) -> type[ReadTimeoutProtocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for this read timeout.

    Raises:
        ValueError: ``read_timeout_s`` is not positive.
    """
    if not read_timeout_s > 0:
        raise ValueError(f"read timeout must be positive, got {read_timeout_s}")
    return type("ReadTimeoutProtocol", (ReadTimeoutProtocol,), {"read_timeout_s": read_timeout_s})
