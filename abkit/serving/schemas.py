"""Request and response bodies of the HTTP API (validated once, here, and trusted inside).

Ids follow the event store's rules (:mod:`abkit.events.validate`): trimmed by the one rule of
:mod:`abkit.assignment.ids`, 1-128 characters, no NUL, no U+FFFD (what invalid UTF-8 decodes to) and no ``\\x1f`` (the
assignment key separator), so that every acknowledged event is one the store accepts.
Message roles and texts follow the rules of :func:`abkit.text.parse_messages`, the code
training uses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from abkit.assignment.hashing import SEPARATOR
from abkit.assignment.ids import ID_WHITESPACE, normalise_id_or_pass
from abkit.events.validate import MAX_HANDLE_TIME_S, MAX_ID_LENGTH, MAX_SELECTION_TIME_S, REPLACEMENT_CHARACTER
from abkit.text.transcript import Role

MAX_MESSAGES = 2_000  # far beyond 512 tokens of context; bounds the work one request can ask for
# Shorter deadlines cannot cover a forward pass and the network; the published budget is 100 ms.
MIN_DEADLINE_MS = 50.0
MAX_DEADLINE_MS = 60_000.0
_FORBIDDEN = {
    "\x00": "a NUL character",
    REPLACEMENT_CHARACTER: "U+FFFD (invalid UTF-8)",
    SEPARATOR: "the \\x1f separator",
}


def _char_class(characters: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in characters)


# The id rules as one JSON Schema pattern (ECMA and Python regex syntax): optional surrounding
# whitespace (abkit.assignment.ids), then 1-128 characters that begin and end with one that is
# not whitespace, none of them forbidden. The length is the trimmed id's, as stored.
_WS = _char_class(ID_WHITESPACE)
_BAD = _char_class("".join(_FORBIDDEN))
_EDGE = f"[^{_WS}{_BAD}]"
ID_PATTERN = f"^[{_WS}]*{_EDGE}(?:[^{_BAD}]{{0,{MAX_ID_LENGTH - 2}}}{_EDGE})?[{_WS}]*$"
# A message text must have a character that is not whitespace as str.strip() sees it (what
# abkit.text.parse_messages checks), spelt out so that every regex engine reads it the same.
_TEXT_WHITESPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
TEXT_PATTERN = f"[^{_char_class(_TEXT_WHITESPACE)}]"
# RFC 3339 with its UTC offset required; the first and last representable days are refused
# because an offset could move them out of range once converted to UTC.
TIMESTAMP_PATTERN = r"^(?!0001-01-01|9999-12-31)\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def _check_id(value: str) -> str:
    for character, name in _FORBIDDEN.items():
        if character in value:
            raise ValueError(f"must not contain {name}")
    return value


Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ID_LENGTH),
    BeforeValidator(normalise_id_or_pass),  # runs before the length check
    AfterValidator(_check_id),
    WithJsonSchema({"type": "string", "pattern": ID_PATTERN}),
]


def _check_text(value: str) -> str:
    if not value.strip():
        raise ValueError("missing or empty")
    return value


def _check_timestamp(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string: an RFC 3339 timestamp with a UTC offset")
    if not _TIMESTAMP.match(value):
        if value[:10] in ("0001-01-01", "9999-12-31"):
            raise ValueError("must be between 0001-01-02 and 9999-12-30 (an offset could move it out of range)")
        raise ValueError("must be an RFC 3339 timestamp with a UTC offset, e.g. 2026-12-03T10:00:00Z")
    return value


Timestamp = Annotated[
    datetime,
    Strict(False),  # parsed from the string that _check_timestamp let through
    BeforeValidator(_check_timestamp),
    AfterValidator(lambda value: value.astimezone(UTC).replace(tzinfo=None)),  # it has an offset: UTC, naive
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]


class _Strict(BaseModel):
    # Unknown fields are refused so that a misspelt field name is an error, not silently ignored;
    # strict types: no "3.5" or true for a number, no number for a timestamp.
    model_config = ConfigDict(extra="forbid", strict=True)


class MessageIn(_Strict):
    """One message of the conversation, oldest first in the list."""

    role: Role = Field(examples=["customer"])
    text: Annotated[str, AfterValidator(_check_text)] = Field(
        min_length=1,
        description="The message text (not only whitespace). Its maximum length is the server's per-message limit.",
        examples=["My card was declined"],
        json_schema_extra={"pattern": TEXT_PATTERN},
    )


class SuggestRequest(_Strict):
    """Score the conversation for the advocate's next reply."""

    case_id: Id
    message_id: Id = Field(description="The newest message, the one the advocate is answering.")
    advocate_id: Id
    messages: list[MessageIn] = Field(
        min_length=1, max_length=MAX_MESSAGES, description="The conversation so far, oldest first."
    )
    deadline_ms: float | None = Field(
        default=None,
        ge=MIN_DEADLINE_MS,
        le=MAX_DEADLINE_MS,
        allow_inf_nan=False,
        description="Give up after this many milliseconds (default: the server's).",
    )


class SuggestionOut(BaseModel):
    template_id: str
    score: float = Field(description="Softmax probability.")


class SuggestResponse(BaseModel):
    prediction_id: str
    experiment: str
    arm: str = Field(description="'holdout' (no suggestions shown) or the model version shown.")
    model_version: str = Field(description="The model that scored the request (the baseline for the holdout).")
    suggestions: list[SuggestionOut] = Field(description="Top-5 templates, best first; empty for the holdout.")
    latency_ms: float


class SelectionRequest(_Strict):
    """The template an advocate chose and how long choosing took."""

    selection_id: Id | None = Field(default=None, description="Give one to make retries idempotent.")
    case_id: Id
    message_id: Id
    advocate_id: Id
    template_id: Id
    selection_time_s: float = Field(ge=0, le=MAX_SELECTION_TIME_S, allow_inf_nan=False)
    prediction_id: Id | None = None
    created_at: Timestamp | None = Field(default=None, description="When it happened (default: when received).")


class SelectionResponse(BaseModel):
    selection_id: str
    experiment: str
    arm: str
    model_version: str


class CaseRequest(_Strict):
    """A closed support case and its total handle time."""

    case_id: Id
    handle_time_s: float = Field(ge=0, le=MAX_HANDLE_TIME_S, allow_inf_nan=False)
    closed_at: Timestamp | None = Field(default=None, description="When it closed (default: when received).")


class CaseResponse(BaseModel):
    case_id: str


class ReadyResponse(BaseModel):
    ready: bool
    problems: list[str] = Field(description="Why not ready; without the bearer token, named without details.")
    models: list[str] | None = Field(default=None, description="Loaded model versions (with the token, or none set).")
    experiment: str | None = None
    events_pending: int | None = None
    database_up: bool | None = None


class ServiceError(Exception):
    """A request the service answers with an error status and a message naming the problem.

    A 429 or 503 without ``retry_after`` is sent with the service's ``retry_after_s``.
    """

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None, errors: list | None = None):
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after
        self.errors = errors


class ErrorResponse(BaseModel):
    detail: str = Field(description="What is wrong, naming the field.")
    errors: list[dict[str, Any]] | None = None
