"""Typing the columns of a batch: which types can hold which field (text, number, timestamp), and how.

Text files reach validation as strings, but a Parquet file, or a frame handed to the store,
brings its own types. A column whose type cannot hold its field is refused row by row with the
field named: never an exception from polars in the middle of an ingest (a list or binary id),
and never cast into another value (``True`` as 1.0 seconds, an id typed as float as ``"1.0"``,
which is not the id an integer column that went through a nullable float column had).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from abkit.assignment.ids import normalise_id_expr

Role = Literal["text", "number", "timestamp"]

_EXPECTED: dict[Role, str] = {"text": "text", "number": "a number", "timestamp": "a timestamp"}


def holds(role: Role, dtype: pl.DataType) -> bool:
    """Whether a column of ``dtype`` can hold a field of ``role`` (strings and nulls always can)."""
    if dtype == pl.String or dtype == pl.Null:
        return True
    if role == "text":  # integers and categories are ids as they are written
        scale_zero = isinstance(dtype, pl.Decimal) and dtype.scale == 0
        return dtype.is_integer() or dtype == pl.Categorical or isinstance(dtype, pl.Enum) or scale_zero
    if role == "number":
        return dtype.is_numeric()  # not Boolean
    return dtype == pl.Datetime or dtype == pl.Date or dtype.is_numeric()  # numbers: epoch seconds


def wrong_type_reason(role: Role, dtype: pl.DataType) -> str:
    """The reject reason for a field of ``role`` in a column of ``dtype`` that cannot hold it."""
    return f"wrong type: a {dtype} column, where {_EXPECTED[role]} is expected"


def parse_timestamp(value: object) -> datetime | None:
    """One value as a naive UTC datetime (ISO 8601 text, a datetime, epoch seconds); None if it is none."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            parsed = datetime.fromtimestamp(value, tz=UTC)  # epoch seconds
        except (ValueError, OverflowError, OSError):  # outside years 1-9999
            return None
    else:
        return None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
            return None
    return parsed


def as_datetime(series: pl.Series) -> pl.Series:
    """A timestamp column as naive UTC microseconds; null where a value is not a timestamp."""
    if series.dtype == pl.Datetime:
        if getattr(series.dtype, "time_zone", None):
            series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return series.dt.cast_time_unit("us")
    if series.dtype == pl.Date:
        return series.cast(pl.Datetime("us"))
    return pl.Series(
        series.name,
        [parse_timestamp(value) for value in series.to_list()],
        dtype=pl.Datetime("us"),
    )


# The typing below is written as expressions on the input column (its dtype known from the
# schema), so that a batch is typed and checked in one polars query rather than one per column.


def as_float(name: str, dtype: pl.DataType) -> pl.Expr:
    """A number column of ``dtype`` as Float64; null where text is not a number."""
    column = pl.col(name)
    if dtype.is_numeric():
        return column.cast(pl.Float64)
    if dtype == pl.String:
        return column.str.strip_chars().cast(pl.Float64, strict=False)
    return column.cast(pl.Float64, strict=False)


def as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """An id or name column of ``dtype`` as trimmed text."""
    # Integer and categorical ids become their text (validation refuses the types that do not
    # hold text, see holds, before typing); then the one id rule of abkit.assignment.ids.
    column = pl.col(name) if dtype == pl.String else pl.col(name).cast(pl.String, strict=False)
    return normalise_id_expr(column)
