"""Stored reports (table ``report_snapshots``), so that dashboards read results, not raw events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from abkit.events.engine import connect
from abkit.events.schema import report_snapshots


def _engine(engine_or_url: Engine | str) -> Engine:
    return engine_or_url if isinstance(engine_or_url, Engine) else connect(engine_or_url)


def _naive_utc(moment: datetime | None) -> datetime | None:
    # Timestamps are stored as naive UTC on every backend (see abkit/events/schema.py).
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def store_snapshot(
    engine_or_url: Engine | str,
    report_dict: Mapping[str, Any],
    experiment: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Save one report (the JSON of docs/report-schema.md) and return its ``snapshot_id``.

    The table is created when missing, so a read-only event database set up elsewhere still
    takes snapshots once it is writable.

    Args:
        engine_or_url: an engine, a database URL or a SQLite path.
        report_dict: ``Report.to_dict()``; must be JSON-serialisable without NaN or Infinity.
        experiment: the experiment filter the report used (None: all experiments).
        since: start of the report window (naive UTC or aware), or None.
        until: end of the report window, or None.

    Raises:
        ValueError: the report holds NaN/Infinity or something JSON cannot encode.
    """
    try:
        text = json.dumps(report_dict, allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"report_json: cannot store the report as strict JSON ({error})") from None
    engine = _engine(engine_or_url)
    report_snapshots.create(engine, checkfirst=True)
    row = {
        "experiment": experiment,
        "window_since": _naive_utc(since),
        "window_until": _naive_utc(until),
        "computed_at": datetime.now(UTC).replace(tzinfo=None),
        "report_json": text,
    }
    with engine.begin() as conn:
        result = conn.execute(insert(report_snapshots).returning(report_snapshots.c.snapshot_id), [row])
        return int(result.scalar_one())


def latest_snapshot(engine_or_url: Engine | str, experiment: str | None = None) -> tuple[datetime, dict] | None:
    """The most recent stored report for ``experiment`` (None: the all-experiments report).

    Returns:
        ``(computed_at, report_dict)`` with ``computed_at`` naive UTC, or None when no snapshot
        (or no snapshot table) exists.
    """
    engine = _engine(engine_or_url)
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, report_snapshots.name):
            return None
        table = report_snapshots.c
        where = table.experiment.is_(None) if experiment is None else table.experiment == experiment
        query = (
            select(table.computed_at, table.report_json)
            .where(where)
            .order_by(table.computed_at.desc(), table.snapshot_id.desc())
            .limit(1)
        )
        row = conn.execute(query).first()
    if row is None:
        return None
    return row.computed_at, json.loads(row.report_json)
