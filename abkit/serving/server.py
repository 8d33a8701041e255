"""Running the app under uvicorn: in the foreground (CLI) or on a background thread (tests, bench)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from abkit.serving.protocol import DEFAULT_READ_TIMEOUT_S, read_timeout_protocol

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def uvicorn_config(
    app: Any, host: str, port: int, *, log_level: str = "warning", read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
) -> uvicorn.Config:
    """uvicorn's settings for the service: each request must arrive whole within ``read_timeout_s``."""
    # One process, one event loop: the model worker is the bottleneck, not Python's HTTP parsing.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=60,
        lifespan="on",
        http=read_timeout_protocol(read_timeout_s),
    )


@contextmanager
def background_server(
    app: Any,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    startup_timeout_s: float = 60,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
) -> Iterator[str]:
    """Run ``app`` on a thread and yield its base URL; on exit, shut down gracefully and wait.

    Raises:
        RuntimeError: the server did not start within ``startup_timeout_s``.
    """
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn_config(app, host, port, read_timeout_s=read_timeout_s))
    thread = threading.Thread(target=server.run, name="abkit-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(120)
