"""Reading figures out of a report dict (the JSON of docs/report-schema.md), for the table builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd


def get(obj: Mapping[str, Any] | None, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` or None when any step is missing or null."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def ci_bound(obj: Mapping[str, Any], key: str, bound: int) -> Any:
    """Bound 0 (low) or 1 (high) of the ``[lo, hi]`` interval at ``obj[key]``, or None."""
    interval = obj.get(key)
    if isinstance(interval, Sequence) and len(interval) == 2:
        return interval[bound]
    return None


def notes(obj: Mapping[str, Any]) -> str:
    """The report's reasons for missing figures: ``"<name>_missing"`` keys, also one level down
    (``clustered.delta_ci95_s: ...``), and ``"missing"`` keys of sub-objects."""
    found = []
    for key, value in obj.items():
        if key.endswith("_missing") and value:
            found.append(f"{key.removesuffix('_missing')}: {value}")
        elif isinstance(value, Mapping):
            if value.get("missing"):
                found.append(f"{key}: {value['missing']}")
            found.extend(
                f"{key}.{inner.removesuffix('_missing')}: {reason}"
                for inner, reason in value.items()
                if inner.endswith("_missing") and reason
            )
    if obj.get("missing"):
        found.append(str(obj["missing"]))
    return "; ".join(found)


def columns_frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with exactly ``columns``, so an empty report still has headers (and a CSV header)."""
    return pd.DataFrame(rows, columns=list(columns))


def shares(mapping: Mapping[str, Any] | None, fmt: Callable[[Any], str]) -> str:
    """``{"holdout": 0.02, "v4": 0.98}`` as ``"holdout 0.02, v4 0.98"`` (values through ``fmt``)."""
    if not isinstance(mapping, Mapping):
        return ""
    return ", ".join(f"{arm} {fmt(value)}" for arm, value in mapping.items())
