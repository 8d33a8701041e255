"""Reading stored reports (table ``report_snapshots``) by experiment and window.

Every query here is a primary-key or index lookup on the snapshot table, never a scan of the
event tables, so a page costs the same on a thousand events or ten million.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from abkit.events.schema import experiments, report_snapshots

# The report contracts this dashboard reads (docs/report-schema.md). Version 1 came before the
# interaction-level CIs, verdicts, phases and the timeline: its pages say so (OLD_SCHEMA_NOTICE).
SCHEMA_VERSIONS = (1, 2)


def old_schema_notice(report: dict[str, Any]) -> str | None:
    """What to say about a report of an older contract than ``abkit report`` now writes, or None."""
    try:
        from abkit.report.contract import SCHEMA_VERSION as current
    except ImportError:  # the reporting extra is not installed: nothing newer to compute
        return None
    version = report.get("schema_version")
    if not isinstance(version, int) or version >= current:
        return None
    return (
        f"This report follows an older contract (schema {version}): it has no interaction-level CIs "
        "or verdicts. Press Refresh to compute them."
    )


class SnapshotError(ValueError):
    """A stored report that does not follow the report contract."""


# The report's sections the pages walk (docs/report-schema.md): lists of objects and objects.
# Checked when a report is read, so a corrupt row is named instead of failing a page callback.
_LIST_SECTIONS = (
    "versions",
    "comparisons",
    "weekly",
    "phases",
    "releases",
    "daily_events",
    "latency_ms",
    "srm_by_experiment",
    "power",
)
_OBJECT_SECTIONS = ("window", "totals", "templates", "timeline")
_NESTED_LISTS = (("templates", "rows"), ("templates", "trends"), ("timeline", "rows"))


def _check_sections(report: dict[str, Any], where: str) -> None:
    """Raise SnapshotError naming the first section (present and not null) of the wrong JSON type."""

    def check_list(value: Any, name: str) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise SnapshotError(f"{name} of {where}: expected a list of objects, got {_json_type(value)}")

    for name in _OBJECT_SECTIONS:
        value = report.get(name)
        if value is not None and not isinstance(value, dict):
            raise SnapshotError(f"{name} of {where}: expected an object, got {_json_type(value)}")
    for name in _LIST_SECTIONS:
        check_list(report.get(name), name)
    for section, name in _NESTED_LISTS:
        check_list((report.get(section) or {}).get(name), f"{section}.{name}")


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        kinds = sorted({_json_type(item) for item in value if not isinstance(item, dict)})
        return f"a list holding {' and '.join(kinds)}" if kinds else "a list"
    names = {dict: "an object", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


@dataclass(frozen=True)
class SnapshotKey:
    """Which report: an experiment filter (None: all) and a window (None: open-ended)."""

    experiment: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_all_time(self) -> bool:
        return self.since is None and self.until is None


@dataclass(frozen=True)
class SnapshotRef:
    """A stored report's id and when it was computed (naive UTC)."""

    snapshot_id: int
    computed_at: datetime


def _equals_or_null(column, value):
    return column.is_(None) if value is None else column == value


def find_snapshot(engine: Engine, key: SnapshotKey) -> SnapshotRef | None:
    """The latest snapshot stored for exactly this experiment and window, or None."""
    t = report_snapshots.c
    query = (
        select(t.snapshot_id, t.computed_at)
        .where(
            _equals_or_null(t.experiment, key.experiment),
            _equals_or_null(t.window_since, key.since),
            _equals_or_null(t.window_until, key.until),
        )
        .order_by(t.computed_at.desc(), t.snapshot_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else SnapshotRef(int(row.snapshot_id), row.computed_at)


def load_report(engine: Engine, snapshot_id: int) -> dict[str, Any]:
    """The report JSON of one snapshot, checked against the contract's version.

    Raises:
        SnapshotError: no such snapshot, unreadable JSON, or another schema version.
    """
    with engine.connect() as conn:
        text = conn.execute(
            select(report_snapshots.c.report_json).where(report_snapshots.c.snapshot_id == snapshot_id)
        ).scalar_one_or_none()
    if text is None:
        raise SnapshotError(f"snapshot_id: no snapshot {snapshot_id}")
    return parse_report(text, f"snapshot {snapshot_id}")


def parse_report(text: str, where: str) -> dict[str, Any]:
    """Parse a report's JSON text; check ``schema_version`` and the JSON type of each section.

    Raises:
        SnapshotError: naming ``where`` and the problem.
    """
    try:
        report = json.loads(text)
    except json.JSONDecodeError as error:
        raise SnapshotError(f"report_json of {where} is not JSON ({error})") from None
    if not isinstance(report, dict):
        raise SnapshotError(f"report_json of {where}: expected an object, got {type(report).__name__}")
    version = report.get("schema_version")
    if version not in SCHEMA_VERSIONS:
        readable = " or ".join(str(v) for v in SCHEMA_VERSIONS)
        raise SnapshotError(f"schema_version of {where} is {version!r}; this dashboard reads {readable}")
    _check_sections(report, where)
    return report


def experiment_names(engine: Engine) -> list[str]:
    """Experiments a user can filter on: registered ones and those with a stored report."""
    with engine.connect() as conn:
        names = set(conn.execute(select(report_snapshots.c.experiment).distinct()).scalars())
        if engine.dialect.has_table(conn, experiments.name):
            names.update(conn.execute(select(experiments.c.name)).scalars())
    return sorted(name for name in names if name is not None)
