"""Tables, indexes and planner statistics of the event store, and nothing else.

This module is the single source of truth for the schema: `sql/schema_*.sql` is generated
from it (`python -m abkit.events.ddl`) and a test checks that the files are current.
Timestamps are naive UTC (`DateTime` without a time zone) on every backend, so that the
same SQL reads them everywhere.
"""

from typing import Any

from sqlalchemy import (
    DDL,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Sequence,
    String,
    Table,
    Text,
    event,
)

from abkit.events import columns as c

metadata = MetaData()

ID = String(128)
# 64-bit floats everywhere: a bare FLOAT is 32-bit in DuckDB (and REAL in Trino).
DOUBLE: Double[float] = Double()
NAME = String(64)

predictions = Table(
    "predictions",
    metadata,
    Column(c.PREDICTION_ID, ID, primary_key=True),
    Column(c.CASE_ID, ID, nullable=False),
    Column(c.MESSAGE_ID, ID, nullable=False),
    Column(c.ADVOCATE_ID, ID, nullable=False),
    Column(c.EXPERIMENT, NAME, nullable=False),
    Column(c.ARM, NAME, nullable=False),
    Column(c.MODEL_VERSION, NAME, nullable=False),
    *(Column(name, ID, nullable=True) for name in c.TEMPLATE_ID_COLUMNS),
    *(Column(name, DOUBLE, nullable=True) for name in c.SCORE_COLUMNS),
    Column(c.LATENCY_MS, DOUBLE, nullable=False),
    Column(c.CREATED_AT, DateTime, nullable=False),
)
Index("ix_predictions_version_arm", predictions.c.model_version, predictions.c.arm)
Index("ix_predictions_created_at", predictions.c.created_at)

selections = Table(
    "selections",
    metadata,
    Column(c.SELECTION_ID, ID, primary_key=True),
    Column(c.CASE_ID, ID, nullable=False),
    Column(c.MESSAGE_ID, ID, nullable=False),
    Column(c.ADVOCATE_ID, ID, nullable=False),
    Column(c.EXPERIMENT, NAME, nullable=False),
    Column(c.ARM, NAME, nullable=False),
    Column(c.MODEL_VERSION, NAME, nullable=False),
    Column(c.TEMPLATE_ID, ID, nullable=False),
    Column(c.SELECTION_TIME_S, DOUBLE, nullable=False),
    Column(c.CREATED_AT, DateTime, nullable=False),
    Column(c.PREDICTION_ID, ID, nullable=True),
)
# Leads with (experiment, model_version, arm) for per-arm lookups, and carries on to the interaction
# (advocate_id, case_id) so that SQLite groups the report's per-interaction sums by scanning the index
# in order instead of sorting every selection (about 2x faster on the report's largest query).
Index(
    "ix_selections_interaction",
    selections.c.experiment,
    selections.c.model_version,
    selections.c.arm,
    selections.c.advocate_id,
    selections.c.case_id,
)
Index("ix_selections_created_at", selections.c.created_at)
Index("ix_selections_prediction_id", selections.c.prediction_id)

cases = Table(
    "cases",
    metadata,
    Column(c.CASE_ID, ID, primary_key=True),
    Column(c.HANDLE_TIME_S, DOUBLE, nullable=False),
    Column(c.CLOSED_AT, DateTime, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("name", NAME, primary_key=True),
    Column("salt", String(256), nullable=False),
    # JSON list of [arm, weight] pairs, holdout first; kept as text so every backend reads it.
    Column("arms_json", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Every definition an experiment has had, never overwritten: each change of salt or weights is a
# new phase, in force from ``started_at`` until the next phase's. The report assigns each
# interaction to the phase in force at its first selection and checks SRM per phase.
# ``experiments`` keeps the current definition of each (what `abkit serve` validates against).
experiment_phases = Table(
    "experiment_phases",
    metadata,
    Column("experiment", NAME, primary_key=True),
    Column("phase", Integer, primary_key=True, autoincrement=False),  # 1, 2, ... in time order
    Column("salt", String(256), nullable=False),
    # JSON list of [arm, weight] pairs, holdout first (as experiments.arms_json).
    Column("arms_json", Text, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(c.MODEL_VERSION, NAME, primary_key=True),
    Column("base_model", String(256), nullable=True),
    Column("released_at", DateTime, nullable=True),
    Column("metadata_json", Text, nullable=True),
)

# Rows refused at the boundary, kept with the reason instead of being dropped silently.
rejects = Table(
    "rejects",
    metadata,
    # An explicit sequence: DuckDB has no SERIAL; SQLite ignores it and keeps its rowid.
    Column("reject_id", Integer, Sequence("rejects_reject_id_seq"), primary_key=True, autoincrement=True),
    Column("event_kind", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("row_number", Integer, nullable=True),
    Column("field", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=True),
    Column("rejected_at", DateTime, nullable=False),
)

# Computed reports, so that dashboards read results rather than scanning raw events.
report_snapshots = Table(
    "report_snapshots",
    metadata,
    Column("snapshot_id", Integer, Sequence("report_snapshots_snapshot_id_seq"), primary_key=True, autoincrement=True),
    Column(c.EXPERIMENT, NAME, nullable=True),
    Column("window_since", DateTime, nullable=True),
    Column("window_until", DateTime, nullable=True),
    Column("computed_at", DateTime, nullable=False),
    Column("report_json", Text, nullable=False),
)
Index("ix_report_snapshots_lookup", report_snapshots.c.experiment, report_snapshots.c.computed_at)

EVENT_TABLES = {"prediction": predictions, "selection": selections, "case": cases}

# PostgreSQL statistics on the hour the report groups the selections by (PostgreSQL 14 or later).
# Without them the planner takes the groups of date_trunc('hour', created_at) to be created_at's
# distinct values, about one per selection, and will not run the scan's hourly grouping beside
# its other two in parallel (with them the scan takes 0.78x the time at 10M selections on two
# cores; docs/report.md, bench/bench_report_forms.py --forms statistics). The expression is
# spelled as abkit/report/dialects.py compiles hour_of. The same on the predictions' day measured
# no gain.
EXPRESSION_STATISTICS = (("abkit_selections_hour", selections, "date_trunc('hour', created_at)"),)


def _create_statistics(name: str, table: Table, expression: str) -> str:
    return f"CREATE STATISTICS IF NOT EXISTS {name} ON ({expression}) FROM {table.name}"


def expression_statistics_ddl() -> list[str]:
    """The ``CREATE STATISTICS`` statements of :data:`EXPRESSION_STATISTICS` (PostgreSQL 14+)."""
    return [_create_statistics(*statistic) for statistic in EXPRESSION_STATISTICS]


def _has_expression_statistics(
    ddl: Any,
    target: Any,
    bind: Any,
    tables: Any = None,
    state: Any = None,
    *,
    dialect: Any,
    compiler: Any = None,
    checkfirst: bool = False,
) -> bool:
    """Whether the server takes statistics on expressions (PostgreSQL 14 or later)."""
    return (dialect.server_version_info or (0,)) >= (14,)


for _name, _table, _expression in EXPRESSION_STATISTICS:
    event.listen(
        _table,
        "after_create",
        DDL(_create_statistics(_name, _table, _expression)).execute_if(
            dialect="postgresql", callable_=_has_expression_statistics
        ),
    )
