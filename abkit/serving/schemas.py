"""Request and response bodies of the HTTP API (validated once, here, and trusted inside).

Ids follow the event store's rules (:mod:`abkit.events.validate`): trimmed by the one rule of
:mod:`abkit.assignment.ids`, 1-128
characters, no NUL, no U+FFFD (what invalid UTF-8 decodes to) and no ``\\x1f`` (the
assignment key separator), so that every acknowledged event is one the store accepts.
Message roles and texts are checked by :func:`abkit.text.parse_messages`, the same code
training uses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from abkit.assignment.hashing import SEPARATOR
from abkit.assignment.ids import normalise_id_or_pass
from abkit.events.validate import MAX_HANDLE_TIME_S, MAX_ID_LENGTH, MAX_SELECTION_TIME_S, REPLACEMENT_CHARACTER
from abkit.text.transcript import ROLES

MAX_MESSAGES = 2_000  # far beyond 512 tokens of context; bounds the work one request can ask for
_FORBIDDEN = {
    "\x00": "a NUL character",
    REPLACEMENT_CHARACTER: "U+FFFD (invalid UTF-8)",
    SEPARATOR: "the \\x1f separator",
}


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
]


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class _Strict(BaseModel):
    # Unknown fields are refused so that a misspelt field name is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class MessageIn(_Strict):
    """One message of the conversation, oldest first in the list."""

    role: str = Field(description=f"One of {list(ROLES)}.", examples=["customer"])
    text: str = Field(description="The message text (non-empty).", examples=["My card was declined"])


class SuggestRequest(_Strict):
    """Score the conversation for the advocate's next reply."""

    case_id: Id
    message_id: Id = Field(description="The newest message, the one the advocate is answering.")
    advocate_id: Id
    messages: list[MessageIn] = Field(max_length=MAX_MESSAGES, description="The conversation so far, oldest first.")
    deadline_ms: float | None = Field(
        default=None, gt=0, le=60_000, description="Give up after this many milliseconds (default: the server's)."
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
    created_at: Annotated[datetime | None, AfterValidator(_naive_utc)] = None


class SelectionResponse(BaseModel):
    selection_id: str
    experiment: str
    arm: str
    model_version: str


class CaseRequest(_Strict):
    """A closed support case and its total handle time."""

    case_id: Id
    handle_time_s: float = Field(ge=0, le=MAX_HANDLE_TIME_S, allow_inf_nan=False)
    closed_at: Annotated[datetime | None, AfterValidator(_naive_utc)] = None


class CaseResponse(BaseModel):
    case_id: str


class ErrorResponse(BaseModel):
    detail: str = Field(description="What is wrong, naming the field.")
    errors: list[dict[str, Any]] | None = None


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def describe_validation_error(error: ValidationError) -> tuple[str, list[dict[str, str]]]:
    """A one-line summary and one ``{"field", "problem"}`` per error, fields as ``messages[0].text``."""
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append({"field": _location(tuple(item["loc"])), "problem": message})
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    if len(problems) > 5:
        summary += f"; and {len(problems) - 5} more"
    return summary, problems
