"""Input checks shared by the stats modules (each error names the field it refuses), and how checked weights are taken."""

from __future__ import annotations

import math


def whole_count(value: object, name: str) -> int:
    """Validate a non-negative integer count (numpy ints and integral floats from SQL accepted)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    try:
        as_int = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}") from None
    if as_int != value or as_int < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return as_int


def finite(value: object, name: str) -> float:
    """Validate a finite float."""
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(as_float):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return as_float


def level(value: object, name: str) -> float:
    """Validate a probability strictly between 0 and 1 (a confidence level, an alpha); None and NaN refused."""
    try:
        as_float = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        as_float = math.nan
    if not 0.0 < as_float < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
    return as_float


def relative_to_largest(weights: list[float]) -> list[float]:
    """``weights`` divided by the largest in magnitude (as given when all are 0): the same ratios,
    whose totals and squares stay within a float where 1e300 or 1e-200 would overflow or underflow."""
    largest = max((abs(weight) for weight in weights), default=0.0)
    return [weight / largest for weight in weights] if largest else list(weights)
