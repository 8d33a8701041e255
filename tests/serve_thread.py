"""The service's app on a uvicorn thread for tests, with the CLI's settings (abkit.serving.server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from abkit.serving.server import DEFAULT_READ_TIMEOUT_S, free_port, uvicorn_config


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
