"""JSON-safe conversion shared by every stats result dataclass."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """Convert a result value to plain JSON types: NaN and infinities become None.

    Args:
        value: A float, int, str, None, tuple/list, mapping, numpy scalar or dataclass.

    Returns:
        The same value built from dict, list, str, int, float, bool and None only.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: json_safe(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


class ToDictMixin:
    """Gives a frozen result dataclass a `to_dict()` with JSON-safe values."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict of JSON-safe values (None, never NaN or inf)."""
        return json_safe(self)


def finite_or_none(value: float | None) -> float | None:
    """Return `value` as a Python float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
