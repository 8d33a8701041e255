"""Result rows of the report's queries read into the grouped dataclasses of :mod:`abkit.report.groups`.

Drivers differ in what they hand back (PostgreSQL: Decimal for sums of integers; SQLite: text for
time buckets; Spark and DuckDB: native values), so every family is read here, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from abkit.report.groups import (
    ArmBounds,
    ArmGroup,
    BucketGroup,
    CaseGroup,
    HitGroup,
    LatencyGroup,
    PredictionDay,
    TemplateGroup,
)


def as_int(value: Any) -> int:
    return 0 if value is None else int(value)


def as_float(value: Any) -> float:
    # PostgreSQL returns NUMERIC (Decimal) for SUM over integers.
    return 0.0 if value is None else float(value)


def as_datetime(value: Any) -> datetime:
    # SQLite returns the text of strftime buckets; drivers return datetimes for columns (dates for day buckets).
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value))


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def as_arms(arms_json: str) -> tuple[tuple[str, float], ...]:
    return tuple((str(arm), float(weight)) for arm, weight in json.loads(arms_json))


def arm_bounds(rows: Iterable[Any]) -> list[ArmBounds]:
    return [
        ArmBounds(
            row.experiment,
            row.model_version,
            row.arm,
            as_int(row.n),
            as_float(row.low),
            as_datetime(row.first_seen),
            as_datetime(row.last_seen),
        )
        for row in rows
    ]


def arm_groups(rows: Iterable[Any]) -> list[ArmGroup]:
    return [
        ArmGroup(
            experiment=row.experiment,
            phase=as_int(row.phase),
            model_version=row.model_version,
            arm=row.arm,
            n=as_int(row.n),
            total=as_float(row.total),
            total_sq=as_float(row.total_sq),
            k=as_int(row.k),
            sum_n2=as_float(row.sum_n2),
            sum_y2=as_float(row.sum_y2),
            sum_ny=as_float(row.sum_ny),
            first_seen=as_datetime(row.first_seen),
            last_seen=as_datetime(row.last_seen),
        )
        for row in rows
    ]


def hit_groups(rows: Iterable[Any]) -> list[HitGroup]:
    return [
        HitGroup(
            row.experiment,
            row.model_version,
            row.template_id,
            as_int(row.n),
            as_int(row.top1),
            as_int(row.top3),
            as_int(row.top5),
        )
        for row in rows
    ]


def template_groups(rows: Iterable[Any]) -> list[TemplateGroup]:
    return [
        TemplateGroup(
            row.template_id,
            row.experiment,
            row.model_version,
            row.arm,
            as_int(row.n),
            as_float(row.total),
            as_float(row.total_sq),
        )
        for row in rows
    ]


def bucket_groups(rows: Iterable[Any]) -> list[BucketGroup]:
    return [
        BucketGroup(
            as_datetime(row.start),
            row.experiment,
            row.model_version,
            row.arm,
            as_int(row.n),
            as_float(row.total),
            as_float(row.total_sq),
        )
        for row in rows
    ]


def prediction_days(rows: Iterable[Any]) -> list[PredictionDay]:
    return [PredictionDay(as_date(row.day), row.experiment, row.arm, as_int(row.n)) for row in rows]


def latency_groups(rows: Iterable[Any]) -> list[LatencyGroup]:
    """Rows of :func:`~abkit.report.queries.latency_query` (percentiles as one array, PERCENTILES in order)."""
    groups = []
    for row in rows:
        p50, p90, p99 = (as_float(value) for value in row.percentiles)
        groups.append(LatencyGroup(row.model_version, as_int(row.n), p50, p90, p99, as_float(row.max)))
    return groups


def case_groups(rows: Iterable[Any]) -> list[CaseGroup]:
    """Rows of :func:`~abkit.report.queries.case_groups_query`."""
    return [
        CaseGroup(
            row.experiment, row.model_version, as_int(row.cases), as_int(row.selections), as_float(row.handle_time_sum)
        )
        for row in rows
    ]
