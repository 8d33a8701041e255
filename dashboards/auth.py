"""HTTP basic auth for a dashboard bound beyond the loopback interface."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, request

PASSWORD_ENV = "ABKIT_DASHBOARD_PASSWORD"
USER_ENV = "ABKIT_DASHBOARD_USER"
DEFAULT_USER = "abkit"


@dataclass(frozen=True)
class Credentials:
    """The one user and password the dashboard accepts."""

    user: str
    password: str = ""

    def __repr__(self) -> str:  # never print the password
        return f"Credentials(user={self.user!r}, password=***)"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_credentials(password_file: str | Path | None = None) -> Credentials:
    """Credentials from ``password_file`` (first line) or the environment.

    Raises:
        ValueError: no password given, or an empty one.
    """
    if password_file is not None:
        path = Path(password_file)
        if not path.is_file():
            raise ValueError(f"password file: {path} does not exist")
        lines = path.read_text().splitlines()
        password = lines[0].strip() if lines else ""
        source = str(path)
    else:
        password = os.environ.get(PASSWORD_ENV, "")
        source = PASSWORD_ENV
    if not password:
        raise ValueError(
            f"password: a dashboard bound beyond 127.0.0.1 requires a login; set {PASSWORD_ENV} or pass "
            f"--password-file (got an empty password from {source})"
        )
    return Credentials(os.environ.get(USER_ENV, DEFAULT_USER), password)


def _authorized(header: str | None, credentials: Credentials) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    # Constant-time comparisons, so timing does not reveal how much of a guess was right.
    return hmac.compare_digest(user.encode(), credentials.user.encode()) & hmac.compare_digest(
        password.encode(), credentials.password.encode()
    )


def require_login(server: Flask, credentials: Credentials) -> None:
    """Ask for ``credentials`` on every request to ``server`` (pages, callbacks, downloads)."""

    @server.before_request
    def _check() -> Response | None:
        if _authorized(request.headers.get("Authorization"), credentials):
            return None
        return Response("Login required.", 401, {"WWW-Authenticate": 'Basic realm="abkit dashboard"'})
