"""What every model of the report contract shares: frozen, strict, and nulls that carry their reasons.

A figure that cannot be computed is ``None`` (``null`` in JSON) and its sibling ``<name>_missing``
says why; the sibling is left out of the JSON when the figure is there. The generated JSON
Schema states that rule (``if <name> is null then <name>_missing is required``), so a validator
that knows nothing of pydantic checks it too.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

MISSING_SUFFIX = "_missing"
NOT_COMPUTED = "not computed"  # the reason of a null figure whose computation gave none


def _finite_or_none(value: Any) -> Any:
    """NaN and infinities are not numbers a report can state: they become None (JSON null)."""
    if isinstance(value, float | int) and not isinstance(value, bool) and not math.isfinite(value):
        return None
    return value


# A figure in seconds, a share or a test statistic: a finite number, or None when it cannot be computed.
Figure = Annotated[float | None, BeforeValidator(_finite_or_none)]
# A two-sided 95% interval (low, high), a JSON array of two numbers.
Interval = tuple[float, float]
# Why the sibling figure is null; left out of the JSON when the figure is there.
Reason = Annotated[str | None, Field(exclude_if=lambda reason: reason is None)]
# ISO 8601 text, naive UTC (``2026-01-05T09:00:00``) or a day (``2026-01-05``).
Timestamp = str


def reason_for(value: object, reason: str | None) -> str | None:
    """The ``<name>_missing`` of a figure: None when it is there, else why (``not computed`` at least)."""
    return None if value is not None else (reason or NOT_COMPUTED)


def figure(name: str, value: Any, reason: str | None) -> dict[str, Any]:
    """``{name: value, name_missing: why}`` for a model's keyword arguments; why is None when the value is there."""
    return {name: value, f"{name}{MISSING_SUFFIX}": reason_for(value, reason)}


def iso(moment: datetime | date | None) -> str | None:
    """ISO 8601 text of a naive-UTC datetime or a date (None stays None)."""
    return None if moment is None else moment.isoformat()


def _reasons_required(schema: dict[str, Any], model: type) -> None:
    """Add ``if <name> is null then <name>_missing is required`` for every figure with a reason sibling."""
    properties = schema.get("properties", {})
    rules = [
        {
            "if": {
                "required": [name[: -len(MISSING_SUFFIX)]],
                "properties": {name[: -len(MISSING_SUFFIX)]: {"type": "null"}},
            },
            "then": {"required": [name], "properties": {name: {"type": "string"}}},
        }
        for name in properties
        if name.endswith(MISSING_SUFFIX) and name[: -len(MISSING_SUFFIX)] in properties
    ]
    if rules:
        schema["allOf"] = rules


class Contract(BaseModel):
    """Base of the report's models: immutable, no unknown keys, field docstrings as schema descriptions."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        use_attribute_docstrings=True,
        json_schema_extra=_reasons_required,
    )
