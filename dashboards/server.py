"""Serve the dashboard with waitress, a production WSGI server, and an optional access log.

Flask's built-in server is for development only (single process, no hardening against slow
clients); waitress is pure Python, multi-threaded and has no dependencies, so `abkit dashboard`
uses it on every address.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import waitress

ACCESS_LOGGER = "abkit.dashboard.access"

# WSGI (PEP 3333): app(environ, start_response) -> iterable of bytes
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def with_access_log(app: WSGIApp, log: logging.Logger) -> WSGIApp:
    """Wrap ``app`` to log one line per request in the Common Log Format (as nginx and Apache write it)."""

    def logged(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen: dict[str, str] = {}

        def recording_start_response(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            seen["status"] = status.partition(" ")[0]
            seen["size"] = next((value for name, value in headers if name.lower() == "content-length"), "-")
            return start_response(status, headers, *args)

        body = app(environ, recording_start_response)
        path = environ.get("PATH_INFO", "") + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
        request_line = f"{environ.get('REQUEST_METHOD', '-')} {path} {environ.get('SERVER_PROTOCOL', '-')}"
        # The basic-auth user is not logged: REMOTE_USER is unset because the login is checked inside the app.
        log.info(
            '%s - - [%s] "%s" %s %s',
            environ.get("REMOTE_ADDR", "-"),
            time.strftime("%d/%b/%Y:%H:%M:%S %z"),
            request_line,
            seen.get("status", "-"),
            seen.get("size", "-"),
        )
        return body

    return logged


def serve(app: WSGIApp, host: str, port: int, *, access_log: bool = False, trusted_proxy: str | None = None) -> None:
    """Serve ``app`` on ``host:port`` with waitress until interrupted.

    Args:
        app: the WSGI application (a Dash app's ``.server``).
        host: address to bind (IPv4, IPv6 or a name).
        port: port to bind.
        access_log: write one Common Log Format line per request to stderr.
        trusted_proxy: address of the reverse proxy whose ``X-Forwarded-For``/``-Proto``/``-Host``
            headers waitress may believe (the client address in the access log, the URL scheme).
    """
    if access_log:
        log = logging.getLogger(ACCESS_LOGGER)
        log.setLevel(logging.INFO)
        if not log.handlers:
            log.addHandler(logging.StreamHandler(sys.stderr))
        log.propagate = False
        app = with_access_log(app, log)
    proxy: dict[str, Any] = {}
    if trusted_proxy is not None:
        proxy = {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
            "clear_untrusted_proxy_headers": True,
        }
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    waitress.serve(app, listen=listen, **proxy)
