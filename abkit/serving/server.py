"""Running the app under uvicorn with a read timeout (the CLI; tests run it on a thread: tests/serve_thread.py).

uvicorn bounds the idle time between requests on a kept-alive connection but not the time a
client takes to send one: a connection that sends half its headers, or announces a body and
never sends it, stays open, and a few hundred of them hold the server's sockets and memory.
Here each request must arrive whole within ``read_timeout_s`` of its first byte (or of the
connection opening, for the first request), else the server answers 408 and closes it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_READ_TIMEOUT_S = 10.0  # a 1 MB body at 1 Mbit/s takes 8 s
READ_TIMED_OUT = "abkit.read_timed_out"  # set in the scope of a request whose body timed out


class ReadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a whole-request read timeout (see the module docstring)."""

    read_timeout_s = DEFAULT_READ_TIMEOUT_S
    _read_timer: asyncio.TimerHandle | None = None

    def _set_read_timer(self, arm: bool = True) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer = self.loop.call_later(self.read_timeout_s, self._read_timed_out) if arm else None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._set_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_read_timer(arm=False)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._set_read_timer()

    def on_message_complete(self) -> None:
        self._set_read_timer(arm=False)
        super().on_message_complete()

    def _read_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and cycle.more_body:
            self.scope[READ_TIMED_OUT] = True  # type: ignore[literal-required]
        if cycle is None or not cycle.response_started or cycle.scope is not self.scope:
            body = json.dumps({"detail": f"request not received within {self.read_timeout_s:g} s"}).encode()
            head = (
                "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def uvicorn_config(
    app: Any, host: str, port: int, *, log_level: str = "warning", read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
) -> uvicorn.Config:
    """uvicorn's settings for the service: one process, one event loop (the model worker is the bottleneck)."""
    protocol = type("ReadTimeoutProtocol", (ReadTimeoutProtocol,), {"read_timeout_s": read_timeout_s})
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=60,
        lifespan="on",
        http=protocol,
    )
