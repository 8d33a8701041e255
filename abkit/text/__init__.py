"""Transcript text shared by training and serving: roles, formatting, the 512-token window."""

from abkit.text.transcript import (
    ROLES,
    Message,
    MessageError,
    format_for_adaptation,
    parse_messages,
    window_token_ids,
)

__all__ = ["ROLES", "Message", "MessageError", "format_for_adaptation", "parse_messages", "window_token_ids"]
