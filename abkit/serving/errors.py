"""The error a request is answered with (status, message naming the problem)."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service answers with an error status and a clear message."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None, errors: list | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        self.errors = errors
